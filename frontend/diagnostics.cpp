#include "frontend/diagnostics.h"

#include <fmt/format.h>

namespace sluice {

void Diagnostics::add(Diagnostic d) {
  auto key = std::make_tuple(int(d.severity), static_cast<const void*>(d.loc.file.get()), d.loc.line, d.loc.col,
                             d.object, d.field, d.message);
  if (!seen_.insert(std::move(key)).second) return;
  if (d.severity == Severity::Error) ++errors_;
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

std::string Diagnostics::render(const Diagnostic& d, bool withSourceLines) {
  // Problems with no place in any file (a bad --node) print without a location.
  std::string out = d.loc.file ? fmt::format("{}: {}: ", d.loc.str(), severityName(d.severity))
                               : fmt::format("{}: ", severityName(d.severity));
  if (!d.object.empty()) out += d.object + ": ";
  if (!d.field.empty()) out += d.field + ": ";
  out += d.message;
  out += '\n';
  if (withSourceLines && d.loc.known()) {
    std::string_view text = d.loc.file->line(d.loc.line);
    // Quote a window of a very long line (minified JSON), keeping the caret in it.
    constexpr uint32_t kWindow = 120;
    uint32_t col = d.loc.col;
    bool clipped = false;
    if (text.size() > 2 * kWindow) {
      uint32_t from = col > kWindow / 2 ? col - kWindow / 2 : 0;
      if (from > text.size()) from = uint32_t(text.size());
      text = text.substr(from, kWindow);
      if (col > 0) col -= from;
      clipped = true;
    }
    if (!text.empty()) {
      std::string number = std::to_string(d.loc.line);
      out += fmt::format("{:>5} | {}{}\n", number, text, clipped ? " ..." : "");
      if (col > 0) {
        // Keep tabs so the caret lines up under the same column in a terminal.
        std::string pad;
        for (uint32_t i = 0; i + 1 < col && i < text.size(); ++i) pad += text[i] == '\t' ? '\t' : ' ';
        out += fmt::format("{:>5} | {}^\n", "", pad);
      }
    }
  }
  return out;
}

std::string Diagnostics::render(bool withSourceLines) const {
  std::string out;
  for (const auto& d : list_) out += render(d, withSourceLines);
  return out;
}

}  // namespace sluice
