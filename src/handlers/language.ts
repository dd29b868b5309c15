/**
 * The programming language of an edited file, from its extension, as Claude Code's code_edit_tool.decision
 * reports it. Unknown extensions are "unknown".
 */
const LANGUAGES: Record<string, string> = {
  ts: "TypeScript",
  tsx: "TypeScript",
  mts: "TypeScript",
  cts: "TypeScript",
  js: "JavaScript",
  jsx: "JavaScript",
  mjs: "JavaScript",
  cjs: "JavaScript",
  py: "Python",
  rb: "Ruby",
  go: "Go",
  rs: "Rust",
  java: "Java",
  kt: "Kotlin",
  swift: "Swift",
  c: "C",
  h: "C",
  cc: "C++",
  cpp: "C++",
  hpp: "C++",
  cs: "C#",
  php: "PHP",
  scala: "Scala",
  sh: "Shell",
  bash: "Shell",
  zsh: "Shell",
  sql: "SQL",
  html: "HTML",
  css: "CSS",
  scss: "SCSS",
  json: "JSON",
  yaml: "YAML",
  yml: "YAML",
  toml: "TOML",
  md: "Markdown",
  mdx: "Markdown",
  txt: "Text",
  vue: "Vue",
  svelte: "Svelte",
  lua: "Lua",
  dart: "Dart",
  ex: "Elixir",
  exs: "Elixir",
  erl: "Erlang",
  hs: "Haskell",
  ml: "OCaml",
  zig: "Zig",
  tf: "Terraform",
  dockerfile: "Dockerfile",
}

export const languageOf = (path: string | undefined): string => {
  if (path === undefined) return "unknown"
  const name = path.split(/[\\/]/).pop()?.toLowerCase() ?? ""
  if (name === "dockerfile") return "Dockerfile"
  const dot = name.lastIndexOf(".")
  return dot < 0 ? "unknown" : (LANGUAGES[name.slice(dot + 1)] ?? "unknown")
}
