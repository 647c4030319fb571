#include "base/source.h"

#include <fmt/format.h>

#include <algorithm>

namespace sluice {

SourceFile::SourceFile(std::string name_, std::string contents_)
    : name(std::move(name_)), contents(std::move(contents_)) {
  lineStarts_.push_back(0);
  for (size_t at = contents.find('\n'); at != std::string::npos; at = contents.find('\n', at + 1))
    lineStarts_.push_back(at + 1);
}

std::string_view SourceFile::line(uint32_t number) const {
  if (number == 0 || number > lineStarts_.size()) return {};
  size_t start = lineStarts_[number - 1];
  if (start > contents.size()) return {};
  size_t end = contents.find('\n', start);
  if (end == std::string::npos) end = contents.size();
  std::string_view text(contents.data() + start, end - start);
  if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
  return text;
}

std::pair<uint32_t, uint32_t> SourceFile::lineCol(size_t offset) const {
  offset = std::min(offset, contents.size());
  auto next = std::upper_bound(lineStarts_.begin(), lineStarts_.end(), offset);
  size_t index = size_t(next - lineStarts_.begin()) - 1;
  uint32_t col = 1;
  for (size_t i = lineStarts_[index]; i < offset; ++i)
    if ((static_cast<unsigned char>(contents[i]) & 0xC0) != 0x80) ++col;  // UTF-8 continuation bytes
  return {uint32_t(index + 1), col};
}

SourceLoc locAt(const std::shared_ptr<const SourceFile>& file, size_t offset) {
  auto [line, col] = file->lineCol(offset);
  return SourceLoc{file, line, col};
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
