import { createServer, type AddressInfo } from "node:net"

/** A loopback port nothing listens on right now (for servers that must be told their port in advance). */
export const freePort = () =>
  new Promise<number>((resolve) => {
    const server = createServer()
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo
      server.close(() => resolve(port))
    })
  })
