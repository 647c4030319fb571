#include "review/render_graph.h"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <map>
#include <tuple>
#include <vector>

extern char** environ;

namespace sluice::review {

namespace {

// GitHub's diff colours: readers know them already.
constexpr const char* kOpenedColor = "#1a7f37";
constexpr const char* kClosedColor = "#cf222e";
constexpr const char* kUnchangedColor = "#57606a";
constexpr const char* kMinusSign = "\xe2\x88\x92";  // U+2212: a dash reads as a hyphen next to a port

// A DOT quoted string. Backslashes are doubled as well as quotes escaped:
// Graphviz reads `\N`, `\G`, `\l`… in labels as its own escapes.
std::string dotQuote(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out + "\"";
}

// "shop/web" -> ("shop", "web"); "svc/shop/web" -> ("shop", "web"). An id of
// another shape has no namespace and is its own name.
struct NodeName {
  std::string namespace_, name;
};
NodeName splitServiceId(const std::string& id) {
  constexpr std::string_view prefix = "svc/";
  if (id.rfind(prefix, 0) != 0) return {"", id};
  std::string rest = id.substr(prefix.size());
  size_t slash = rest.find('/');
  if (slash == std::string::npos) return {"", id};
  return {rest.substr(0, slash), rest.substr(slash + 1)};
}
std::string workloadName(const Workload& w) {
  size_t slash = w.id.find('/');
  return slash == std::string::npos ? w.id : w.id.substr(slash + 1);
}

std::string plural(size_t n, const char* one, const char* many) { return fmt::format("{} {}", n, n == 1 ? one : many); }

std::string probesText(const Edge& e) {
  std::string out;
  for (const auto& p : e.probes) out += (out.empty() ? "" : ", ") + p.str();
  return out;
}

bool partlyHeld(const Edge& e) { return e.pairs < e.ofPairs; }

std::string pairsText(const Edge& e) { return fmt::format("({} of {} pod pairs)", e.pairs, e.ofPairs); }

const char* changeName(EdgeChange c) {
  switch (c) {
    case EdgeChange::Opened: return "opened";
    case EdgeChange::Closed: return "closed";
    case EdgeChange::Unchanged: return "unchanged";
  }
  return "?";
}

// Text inside an HTML-like label. Graphviz still reads `\N`, `\G`… there as
// its escapes (even when written as entities), so a backslash is doubled.
std::string htmlLabelText(std::string_view text) {
  std::string out;
  for (char c : htmlEscape(text)) out += c == '\\' ? std::string("\\\\") : std::string(1, c);
  return out;
}

// Node lines go out grouped by namespace; a namespace's nodes keep the input's
// (sorted) order, so the text is as stable as the graph.
using NodesByNamespace = std::map<std::string, std::vector<std::string>>;

std::string workloadNode(const Workload& w) {
  // An HTML-like label: the only way to give the labels line a smaller font.
  std::string label = fmt::format("<B>{}</B><BR/>{}", htmlLabelText(workloadName(w)), plural(w.pods.size(), "pod", "pods"));
  if (!w.labels.empty()) label += fmt::format("<BR/><FONT POINT-SIZE=\"9\">{}</FONT>", htmlLabelText(w.labels));
  return fmt::format("{} [shape=box, style=rounded, label=<{}>];", dotQuote(w.id), label);
}

std::string serviceNode(const std::string& id) {
  std::string name = splitServiceId(id).name;
  return fmt::format("{} [shape=ellipse, label=<{}<BR/><FONT POINT-SIZE=\"9\">service</FONT>>];", dotQuote(id),
                     htmlLabelText(name));
}

std::string edgeLine(const Edge& e) {
  std::string label = probesText(e);
  std::vector<std::string> styles;
  const char* color = kUnchangedColor;
  switch (e.change) {
    case EdgeChange::Opened:
      label = "+ " + label;
      color = kOpenedColor;
      styles.push_back("bold");
      break;
    case EdgeChange::Closed:
      // Dashed even when every pair held it: the edge is gone, not partial.
      label = std::string(kMinusSign) + " " + label;
      color = kClosedColor;
      styles = {"dashed", "bold"};
      break;
    case EdgeChange::Unchanged: break;
  }
  if (partlyHeld(e)) {
    label += "\n" + pairsText(e);
    if (e.change != EdgeChange::Closed) styles.insert(styles.begin(), "dashed");
  }
  std::string attrs = fmt::format("label={}, color=\"{}\", fontcolor=\"{}\"", dotQuote(label), color, color);
  if (!styles.empty()) attrs += fmt::format(", style=\"{}\"", fmt::join(styles, ","));
  return fmt::format("  {} -> {} [{}];\n", dotQuote(e.from), dotQuote(e.to), attrs);
}

std::string legendNode() {
  std::string rows;
  auto row = [&](const std::string& cell) { rows += "<TR><TD ALIGN=\"LEFT\">" + cell + "</TD></TR>"; };
  row(fmt::format("<FONT COLOR=\"{}\"><B>+ opened</B></FONT>", kOpenedColor));
  row(fmt::format("<FONT COLOR=\"{}\"><B>{} closed</B></FONT>", kClosedColor, kMinusSign));
  row(fmt::format("<FONT COLOR=\"{}\">unchanged</FONT>", kUnchangedColor));
  row("dashed: held by some pod pairs only, or closed");
  // The id has no '/', so it cannot be a workload's or a service's.
  return fmt::format("  \"legend\" [shape=plaintext, fontsize=10, label=<<TABLE BORDER=\"1\" COLOR=\"#d0d7de\" "
                     "CELLBORDER=\"0\" CELLSPACING=\"2\">{}</TABLE>>];\n",
                     rows);
}

}  // namespace

std::string htmlEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string toDot(const Graph& g, const std::string& title) {
  std::string out = "digraph sluice {\n";
  out += fmt::format("  graph [rankdir=LR, label={}, labelloc=t, fontname=\"Helvetica\", fontsize=14];\n",
                     dotQuote(title));
  out += "  node [fontname=\"Helvetica\", fontsize=11];\n";
  out += "  edge [fontname=\"Helvetica\", fontsize=10];\n";

  NodesByNamespace nodes;
  for (const auto& w : g.workloads) nodes[w.namespace_].push_back(workloadNode(w));
  for (const auto& s : g.services) nodes[splitServiceId(s).namespace_].push_back(serviceNode(s));
  for (const auto& [ns, lines] : nodes) {
    out += "\n";
    if (ns.empty()) {  // no namespace to group them by
      for (const auto& line : lines) out += "  " + line + "\n";
      continue;
    }
    out += fmt::format("  subgraph {} {{\n", dotQuote("cluster_" + ns));
    out += fmt::format("    label={}; style=rounded; color=\"#d0d7de\";\n", dotQuote(ns));
    for (const auto& line : lines) out += "    " + line + "\n";
    out += "  }\n";
  }
  if (g.workloads.empty()) out += "\n  \"empty\" [shape=plaintext, label=\"no pods\"];\n";

  if (!g.edges.empty()) out += "\n";
  bool changed = false;
  for (const auto& e : g.edges) {
    out += edgeLine(e);
    changed = changed || e.change != EdgeChange::Unchanged;
  }
  if (changed) out += "\n" + legendNode();
  return out + "}\n";
}

namespace {

// Moves `input` to the child's stdin while collecting its stdout and stderr,
// all through one poll loop: writing everything first would deadlock once
// the child blocks on a full stdout pipe.
void exchange(int in, int out, int err, const std::string& input, std::string& output, std::string& errors) {
  size_t written = 0;
  if (input.empty()) {
    close(in);
    in = -1;
  }
  std::array<char, 65536> buf;
  while (in >= 0 || out >= 0 || err >= 0) {
    std::array<pollfd, 3> fds = {pollfd{in, POLLOUT, 0}, pollfd{out, POLLIN, 0}, pollfd{err, POLLIN, 0}};
    if (poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (in >= 0 && fds[0].revents) {
      // MSG_NOSIGNAL: a child that exits early must give us EPIPE, not SIGPIPE.
      ssize_t n = send(in, input.data() + written, input.size() - written, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) written += size_t(n);
      bool retry = n < 0 && (errno == EAGAIN || errno == EINTR);
      if (written == input.size() || (n < 0 && !retry)) {
        close(in);
        in = -1;
      }
    }
    for (auto [fd, sink, index] : {std::tuple{&out, &output, 1}, std::tuple{&err, &errors, 2}}) {
      if (*fd < 0 || !fds[index].revents) continue;
      ssize_t n = read(*fd, buf.data(), buf.size());
      if (n > 0) sink->append(buf.data(), size_t(n));
      else if (n == 0 || errno != EINTR) {
        close(*fd);
        *fd = -1;
      }
    }
  }
  for (int fd : {in, out, err})
    if (fd >= 0) close(fd);
}

std::string trimmed(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

}  // namespace

bool renderSvg(const std::string& dot, std::string& svg, std::string& error) {
  // stdin is a socket so that send() can refuse SIGPIPE; dot reads it as any fd.
  int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1};
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in) != 0 || pipe2(out, O_CLOEXEC) != 0 ||
      pipe2(err, O_CLOEXEC) != 0) {
    error = fmt::format("could not run Graphviz's `dot`: {}", std::strerror(errno));
    for (int fd : {in[0], in[1], out[0], out[1], err[0], err[1]})
      if (fd >= 0) close(fd);
    return false;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in[1], STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err[1], STDERR_FILENO);
  char arg0[] = "dot", arg1[] = "-Tsvg";
  char* argv[] = {arg0, arg1, nullptr};
  pid_t pid = 0;
  int spawned = posix_spawnp(&pid, "dot", &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  close(in[1]), close(out[1]), close(err[1]);
  if (spawned != 0) {
    close(in[0]), close(out[0]), close(err[0]);
    error = spawned == ENOENT
                ? "Graphviz's `dot` was not found: install the graphviz package (tools/bootstrap does)"
                : fmt::format("could not run Graphviz's `dot`: {}", std::strerror(spawned));
    return false;
  }

  std::string output, errors;
  exchange(in[0], out[0], err[0], dot, output, errors);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
    svg = std::move(output);
    return true;
  }
  std::string how = WIFEXITED(status) ? fmt::format("exit status {}", WEXITSTATUS(status))
                                      : fmt::format("killed by signal {}", WTERMSIG(status));
  error = fmt::format("Graphviz's `dot` failed ({})", how);
  if (!trimmed(errors).empty()) error += ": " + trimmed(errors);
  return false;
}

namespace {

constexpr const char* kStyle = R"(body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em; color: #1f2328; }
h1 { font-size: 1.4em; }
.picture svg { max-width: 100%; height: auto; }
table { border-collapse: collapse; margin-top: 1.5em; }
th, td { border: 1px solid #d0d7de; padding: 0.3em 0.8em; text-align: left; }
th { background: #f6f8fa; }
tr.opened td { color: #1a7f37; }
tr.closed td { color: #cf222e; }
.pairs { color: #57606a; font-size: 0.9em; }
)";

std::string edgeTable(const Graph& g) {
  if (g.edges.empty()) return "<p>No edges.</p>\n";
  std::string out = "<table>\n<thead><tr><th>From</th><th>To</th><th>Probes</th><th>Change</th></tr></thead>\n<tbody>\n";
  for (const auto& e : g.edges) {
    std::string probes = htmlEscape(probesText(e));
    if (partlyHeld(e)) probes += fmt::format(" <span class=\"pairs\">{}</span>", htmlEscape(pairsText(e)));
    out += fmt::format("<tr class=\"{0}\"><td>{1}</td><td>{2}</td><td>{3}</td><td>{0}</td></tr>\n",
                       changeName(e.change), htmlEscape(e.from), htmlEscape(e.to), probes);
  }
  return out + "</tbody>\n</table>\n";
}

// dot's SVG starts with an XML declaration and a DOCTYPE, which do not belong
// inside an HTML page; the <svg> element itself does.
std::string_view svgElement(const std::string& svg) {
  size_t start = svg.find("<svg");
  return start == std::string::npos ? std::string_view(svg) : std::string_view(svg).substr(start);
}

}  // namespace

std::string toHtml(const Graph& g, const std::string& title, const std::string& svg, const std::string& tableHtml) {
  std::string out = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  out += fmt::format("<title>{}</title>\n<style>\n{}</style>\n</head>\n<body>\n", htmlEscape(title), kStyle);
  out += fmt::format("<h1>{}</h1>\n", htmlEscape(title));
  if (!svg.empty()) out += fmt::format("<div class=\"picture\">\n{}\n</div>\n", trimmed(std::string(svgElement(svg))));
  out += tableHtml.empty() ? edgeTable(g) : tableHtml;
  return out + "</body>\n</html>\n";
}

}  // namespace sluice::review
