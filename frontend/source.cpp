#include "frontend/source.h"

#include <fmt/format.h>

namespace sluice {

std::string_view SourceFile::line(uint32_t number) const {
  if (number == 0) return {};
  size_t start = 0;
  for (uint32_t n = 1; n < number; ++n) {
    size_t nl = contents.find('\n', start);
    if (nl == std::string::npos) return {};
    start = nl + 1;
  }
  if (start > contents.size()) return {};
  size_t end = contents.find('\n', start);
  if (end == std::string::npos) end = contents.size();
  std::string_view text(contents.data() + start, end - start);
  if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
  return text;
}

const std::string& SourceLoc::fileName() const {
  static const std::string unknown = "<unknown>";
  return file ? file->name : unknown;
}

std::string SourceLoc::str() const {
  if (!file) return "<unknown>";
  if (line == 0) return file->name;
  if (col == 0) return fmt::format("{}:{}", file->name, line);
  return fmt::format("{}:{}:{}", file->name, line, col);
}

std::string SourceLoc::fileLine() const {
  if (!file) return "<unknown>";
  if (line == 0) return file->name;
  return fmt::format("{}:{}", file->name, line);
}

}  // namespace sluice
