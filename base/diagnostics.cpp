#include "base/diagnostics.h"

#include <fmt/format.h>

#include "base/text.h"

namespace sluice {

namespace {

// The last name of a field path without its indices: "ports" for
// "spec.ingress[1].ports[0]". Paths through different aliases of one node
// differ before it, two absent fields reported at their parent's place in it.
std::string_view lastFieldName(std::string_view path) {
  size_t dot = path.rfind('.');
  std::string_view last = dot == std::string_view::npos ? path : path.substr(dot + 1);
  return last.substr(0, last.find('['));
}

}  // namespace

void Diagnostics::add(Diagnostic d) {
  const void* file = d.loc.file.get();
  // The same report again (a later stage meets a problem once per node, as
  // code generation does): not a new problem.
  if (!reported_.emplace(int(d.severity), file, d.loc.line, d.loc.col, d.object, d.field + "\n" + d.message).second)
    return;
  // Every other error counts, kept or not: a parser decides whether its
  // object is valid by the count, and a repeat is a problem of that object.
  if (d.severity == Severity::Error) ++errors_;
  // At a known place, the same message about the same field name is the same
  // problem, whichever YAML alias led to it: kept once.
  std::string place = std::string(d.loc.known() ? lastFieldName(d.field) : std::string_view(d.field));
  if (list_.size() >= kMaxKept ||
      !seen_.emplace(int(d.severity), file, d.loc.line, d.loc.col, d.object, place + "\n" + d.message).second) {
    ++dropped_;
    return;
  }
  list_.push_back(std::move(d));
}

void Diagnostics::error(SourceLoc loc, std::string object, std::string field, std::string message) {
  add({Severity::Error, std::move(loc), std::move(object), std::move(field), std::move(message)});
}
void Diagnostics::warning(SourceLoc loc, std::string object, std::string field, std::string message) {
  add({Severity::Warning, std::move(loc), std::move(object), std::move(field), std::move(message)});
}
void Diagnostics::note(SourceLoc loc, std::string object, std::string field, std::string message) {
  add({Severity::Note, std::move(loc), std::move(object), std::move(field), std::move(message)});
}

static const char* severityName(Severity s) {
  switch (s) {
    case Severity::Error: return "error";
    case Severity::Warning: return "warning";
    case Severity::Note: return "note";
  }
  return "error";
}

namespace {

// One character of a quoted source line as shown (control characters
// escaped), and the caret line's padding under it (tabs kept, so the caret
// lines up in a terminal).
void showChar(std::string_view ch, std::string& text, std::string& pad) {
  if (ch == "\t") {
    text += '\t';
    pad += '\t';
    return;
  }
  std::string shown = displayText(ch);
  text += shown;
  // Escapes are ASCII, one column per byte; a multi-byte character is one column.
  pad.append(static_cast<unsigned char>(ch[0]) >= 0x80 && shown == ch ? 1 : shown.size(), ' ');
}

}  // namespace

std::string Diagnostics::render(const Diagnostic& d, bool withSourceLines) {
  // Problems with no place in any file (a bad --node) print without a location.
  std::string out = d.loc.file ? fmt::format("{}: {}: ", displayText(d.loc.str(), 4096), severityName(d.severity))
                               : fmt::format("{}: ", severityName(d.severity));
  if (!d.object.empty()) out += displayText(d.object, 4096) + ": ";
  if (!d.field.empty()) out += displayText(d.field, 4096) + ": ";
  out += displayText(d.message, 16384);
  out += '\n';
  if (!withSourceLines || !d.loc.known()) return out;
  std::string_view line = d.loc.file->line(d.loc.line);
  // Split into characters (columns count characters), then quote a window of
  // a very long line (minified JSON), keeping the caret in it.
  std::vector<std::string_view> chars;
  for (size_t i = 0; i < line.size();) {
    size_t n = 1;
    while (i + n < line.size() && (static_cast<unsigned char>(line[i + n]) & 0xC0) == 0x80 && n < 4) ++n;
    chars.push_back(line.substr(i, n));
    i += n;
  }
  constexpr size_t kWindow = 120;
  size_t caret = d.loc.col > 0 ? d.loc.col - 1 : SIZE_MAX;
  size_t from = 0, to = chars.size();
  if (chars.size() > 2 * kWindow) {
    from = caret != SIZE_MAX && caret > kWindow / 2 ? std::min(caret - kWindow / 2, chars.size()) : 0;
    to = std::min(chars.size(), from + kWindow);
  }
  if (from == to) return out;
  std::string text, pad;
  for (size_t i = from; i < to; ++i) {
    std::string charPad;
    showChar(chars[i], text, charPad);
    if (caret != SIZE_MAX && i < caret) pad += charPad;
  }
  out += fmt::format("{:>5} | {}{}\n", d.loc.line, text, to < chars.size() ? " ..." : "");
  if (caret != SIZE_MAX) out += fmt::format("{:>5} | {}^\n", "", pad);
  return out;
}

std::string Diagnostics::render(bool withSourceLines) const {
  std::string out;
  for (const auto& d : list_) out += render(d, withSourceLines);
  if (dropped_) out += droppedSummary();
  return out;
}

std::string Diagnostics::droppedSummary() const {
  if (list_.size() >= kMaxKept)
    return fmt::format("note: {} more diagnostics not kept (at most {} are)\n", dropped_, kMaxKept);
  return fmt::format("note: {} repeated diagnostic{} not shown (the same problem at the same place, reached "
                     "again through YAML aliases)\n",
                     dropped_, dropped_ == 1 ? "" : "s");
}

}  // namespace sluice
