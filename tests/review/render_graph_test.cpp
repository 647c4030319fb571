// The review pictures: DOT text compared with tests/testdata/review/*.dot and
// *.html (SLUICE_UPDATE_GOLDEN=1 rewrites them), and real Graphviz runs.
#include "review/render_graph.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include <unistd.h>

#include "tests/testing/golden.h"

namespace sluice::review {
namespace {

PortProbe tcp(uint16_t port) { return PortProbe{port, ir::L4Proto::TCP}; }

Workload workload(const std::string& ns, const std::string& name, const std::string& labels, size_t pods) {
  Workload w{ns + "/" + name, ns, labels, {}};
  for (size_t i = 1; i <= pods; ++i) w.pods.push_back(w.id + "-" + std::to_string(i));
  return w;
}

Edge edge(const std::string& from, const std::string& to, std::vector<PortProbe> probes, size_t pairs, size_t ofPairs,
          EdgeChange change = EdgeChange::Unchanged) {
  return Edge{from, to, std::move(probes), change, pairs, ofPairs};
}

// Two namespaces, a service in each, and web reaching api from only 2 of its
// 6 pod pairs.
Graph smallGraph() {
  Graph g;
  g.workloads = {workload("data", "db", "app=db", 1), workload("shop", "api", "app=api,tier=back", 2),
                 workload("shop", "web", "app=web,tier=front", 3)};
  g.services = {"svc/data/db", "svc/shop/api"};
  g.edges = {edge("shop/api", "data/db", {tcp(5432)}, 2, 2), edge("shop/api", "svc/data/db", {tcp(5432)}, 2, 2),
             edge("shop/web", "shop/api", {tcp(80), tcp(443)}, 2, 6)};
  return g;
}

Graph diffGraph() {
  Graph g;
  g.workloads = {workload("data", "db", "app=db", 1), workload("shop", "api", "app=api", 2),
                 workload("shop", "web", "app=web", 3)};
  g.edges = {edge("shop/api", "data/db", {tcp(5432)}, 2, 2, EdgeChange::Closed),
             edge("shop/api", "shop/web", {tcp(8080)}, 1, 6, EdgeChange::Opened),
             edge("shop/web", "data/db", {tcp(5432)}, 3, 3, EdgeChange::Opened),
             edge("shop/web", "shop/api", {tcp(80)}, 6, 6)};
  return g;
}

// Names no Kubernetes object may have, but a renderer must survive: DOT's
// quote and backslash, HTML's markup characters.
const std::string kOddNamespace = "we\"ird\\ns";
Graph oddGraph() {
  Graph g;
  g.workloads = {workload(kOddNamespace, "<b>&\"x\\N", "a=<1>&b='2'", 1), workload(kOddNamespace, "plain", "", 2)};
  g.services = {"svc/" + kOddNamespace + "/\"s\""};
  g.edges = {edge(g.workloads[0].id, g.workloads[1].id, {tcp(80)}, 2, 2)};
  return g;
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

std::string svgOf(const std::string& dot) {
  std::string svg, error;
  EXPECT_TRUE(renderSvg(dot, svg, error)) << error;
  return svg;
}

TEST(RenderDot, SmallGraphMatchesGolden) {
  std::string dot = toDot(smallGraph(), "reach: shop");
  EXPECT_TRUE(sluice::testing::matchesGolden(dot, "review/small.dot"));
  EXPECT_TRUE(contains(dot, "rankdir=LR"));
  EXPECT_TRUE(contains(dot, "subgraph \"cluster_data\""));
  EXPECT_TRUE(contains(dot, "subgraph \"cluster_shop\""));
  EXPECT_TRUE(contains(dot, "\"svc/data/db\" [shape=ellipse"));
  EXPECT_TRUE(contains(dot, "<B>web</B><BR/>3 pods<BR/><FONT POINT-SIZE=\"9\">app=web,tier=front</FONT>"));
  EXPECT_TRUE(contains(dot, "<B>db</B><BR/>1 pod<BR/>"));
  EXPECT_FALSE(contains(dot, "legend")) << "no diff, no legend";
}

TEST(RenderDot, PartlyHeldEdgeIsDashedAndSaysHowManyPairs) {
  std::string dot = toDot(smallGraph(), "t");
  EXPECT_TRUE(contains(dot, "\"shop/web\" -> \"shop/api\" [label=\"80/TCP, 443/TCP\\n(2 of 6 pod pairs)\", "
                            "color=\"#57606a\", fontcolor=\"#57606a\", style=\"dashed\"];"));
  // A fully held edge is solid and has no pairs note.
  EXPECT_TRUE(contains(dot, "\"shop/api\" -> \"data/db\" [label=\"5432/TCP\", color=\"#57606a\", "
                            "fontcolor=\"#57606a\"];"));
}

TEST(RenderDot, DiffGraphColoursOpenedAndClosedEdgesAndHasALegend) {
  std::string dot = toDot(diffGraph(), "diff: HEAD~1..HEAD");
  EXPECT_TRUE(sluice::testing::matchesGolden(dot, "review/diff.dot"));
  EXPECT_TRUE(contains(dot, "\"shop/web\" -> \"data/db\" [label=\"+ 5432/TCP\", color=\"#1a7f37\", "
                            "fontcolor=\"#1a7f37\", style=\"bold\"];"));
  EXPECT_TRUE(contains(dot, "\"shop/api\" -> \"data/db\" [label=\"\xe2\x88\x92 5432/TCP\", color=\"#cf222e\", "
                            "fontcolor=\"#cf222e\", style=\"dashed,bold\"];"));
  EXPECT_TRUE(contains(dot, "[label=\"+ 8080/TCP\\n(1 of 6 pod pairs)\", color=\"#1a7f37\", fontcolor=\"#1a7f37\", "
                            "style=\"dashed,bold\"]"));
  EXPECT_TRUE(contains(dot, "\"legend\" [shape=plaintext"));
}

TEST(RenderDot, EmptyGraphSaysNoPods) {
  std::string dot = toDot(Graph{}, "reach");
  EXPECT_TRUE(sluice::testing::matchesGolden(dot, "review/empty.dot"));
  EXPECT_TRUE(contains(dot, "label=\"no pods\""));
  EXPECT_FALSE(contains(dot, "cluster_"));
  EXPECT_FALSE(contains(dot, "->"));
  EXPECT_TRUE(contains(svgOf(dot), ">no pods</text>"));
}

TEST(RenderDot, OddNamesAreEscapedForDotAndHtmlLabels) {
  std::string dot = toDot(oddGraph(), "odd \"title\" \\ here");
  EXPECT_TRUE(sluice::testing::matchesGolden(dot, "review/odd_names.dot"));
  EXPECT_TRUE(contains(dot, "label=\"odd \\\"title\\\" \\\\ here\""));
  EXPECT_TRUE(contains(dot, "subgraph \"cluster_we\\\"ird\\\\ns\""));
  // The node id: quotes and backslashes escaped in the DOT string.
  EXPECT_TRUE(contains(dot, "\"we\\\"ird\\\\ns/<b>&\\\"x\\\\N\" [shape=box"));
  // The label is HTML-like: markup characters become entities, and the
  // backslash is still doubled, or Graphviz would read `\N` as the node's id.
  EXPECT_TRUE(contains(dot, "<B>&lt;b&gt;&amp;&quot;x\\\\N</B>"));
  EXPECT_TRUE(contains(dot, "a=&lt;1&gt;&amp;b=&#39;2&#39;"));
  EXPECT_TRUE(contains(dot, "label=<&quot;s&quot;<BR/>"));

  // Graphviz reads it all back as the same names.
  std::string svg = svgOf(dot);
  EXPECT_TRUE(contains(svg, ">&lt;b&gt;&amp;&quot;x\\N</text>")) << svg;
  EXPECT_TRUE(contains(svg, ">we&quot;ird\\ns</text>")) << svg;
  EXPECT_TRUE(contains(svg, ">odd &quot;title&quot; \\ here</text>")) << svg;
  EXPECT_FALSE(contains(svg, "Warning")) << svg;
}

TEST(RenderSvg, SmallGraphDrawsEveryWorkloadAndService) {
  std::string svg = svgOf(toDot(smallGraph(), "reach: shop"));
  EXPECT_TRUE(contains(svg, "<svg"));
  for (const char* label : {">web</text>", ">api</text>", ">db</text>", ">3 pods</text>", ">app=web,tier=front</text>",
                            ">80/TCP, 443/TCP</text>", ">(2 of 6 pod pairs)</text>", ">shop</text>", ">data</text>"})
    EXPECT_TRUE(contains(svg, label)) << label;
  // The dashed edge is dashed in the picture too.
  EXPECT_TRUE(contains(svg, "stroke-dasharray"));
}

TEST(RenderSvg, InvalidDotFailsWithGraphvizsMessage) {
  std::string svg = "untouched", error;
  EXPECT_FALSE(renderSvg("digraph { a -> ; }", svg, error));
  EXPECT_EQ(svg, "untouched");
  EXPECT_TRUE(contains(error, "Graphviz's `dot` failed (exit status 1): ")) << error;
  EXPECT_TRUE(contains(error, "syntax error in line 1")) << error;
}

TEST(RenderSvg, LargeInputAndOutputDoNotDeadlock) {
  // More than a pipe's and a socket's buffer each way.
  Graph g;
  for (int i = 0; i < 400; ++i) g.workloads.push_back(workload("ns", "w" + std::to_string(i), "app=x", 1));
  std::string dot = toDot(g, "big") + "/*" + std::string(1 << 20, 'x') + "*/\n";
  std::string svg = svgOf(dot);
  EXPECT_GT(svg.size(), size_t(256 * 1024));
  EXPECT_TRUE(contains(svg, ">w399</text>"));
}

TEST(RenderSvg, MissingDotSaysHowToInstallIt) {
  std::filesystem::path empty = std::filesystem::temp_directory_path() / ("sluice-no-dot-" + std::to_string(getpid()));
  std::filesystem::create_directories(empty);
  std::string savedPath = std::getenv("PATH") ? std::getenv("PATH") : "";
  setenv("PATH", empty.c_str(), 1);
  std::string svg, error;
  bool ok = renderSvg("digraph {}", svg, error);
  setenv("PATH", savedPath.c_str(), 1);
  std::filesystem::remove(empty);
  EXPECT_FALSE(ok);
  EXPECT_EQ(error, "Graphviz's `dot` was not found: install the graphviz package (tools/bootstrap does)");
}

// What dot prints before the <svg> element, which an HTML page must not carry.
const std::string kFakeSvg =
    "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n"
    "<!DOCTYPE svg PUBLIC \"-//W3C//DTD SVG 1.1//EN\"\n \"http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd\">\n"
    "<svg width=\"10pt\" height=\"10pt\"><text>web</text></svg>\n";

TEST(RenderHtml, PageMatchesGoldenAndNeedsNoOtherFile) {
  std::string html = toHtml(smallGraph(), "reach <shop> & \"co\"", kFakeSvg, "");
  EXPECT_TRUE(sluice::testing::matchesGolden(html, "review/small.html"));
  EXPECT_EQ(html.rfind("<!DOCTYPE html>\n", 0), 0u);
  EXPECT_TRUE(contains(html, "<title>reach &lt;shop&gt; &amp; &quot;co&quot;</title>"));
  EXPECT_TRUE(contains(html, "<h1>reach &lt;shop&gt; &amp; &quot;co&quot;</h1>"));
  EXPECT_TRUE(contains(html, "<svg width=\"10pt\" height=\"10pt\"><text>web</text></svg>\n</div>"));
  EXPECT_FALSE(contains(html, "<?xml"));
  EXPECT_FALSE(contains(html, "<!DOCTYPE svg"));
  for (const char* external : {"<link", "src=", "href=", "@import", "url(", "http"})
    EXPECT_FALSE(contains(html, external)) << external;
  EXPECT_TRUE(contains(html, "<tr class=\"unchanged\"><td>shop/web</td><td>shop/api</td><td>80/TCP, 443/TCP "
                             "<span class=\"pairs\">(2 of 6 pod pairs)</span></td><td>unchanged</td></tr>"));
}

TEST(RenderHtml, DiffRowsSayWhatChangedAndTextIsEscaped) {
  Graph g = diffGraph();
  g.edges.push_back(edge("shop/<x>", "shop/\"y\"", {tcp(1)}, 1, 1, EdgeChange::Opened));
  std::string html = toHtml(g, "diff", "", "");
  EXPECT_TRUE(contains(html, "<tr class=\"closed\"><td>shop/api</td><td>data/db</td><td>5432/TCP</td><td>closed</td>"));
  EXPECT_TRUE(contains(html, "<tr class=\"opened\"><td>shop/web</td><td>data/db</td><td>5432/TCP</td><td>opened</td>"));
  EXPECT_TRUE(contains(html, "<td>shop/&lt;x&gt;</td><td>shop/&quot;y&quot;</td>"));
  EXPECT_FALSE(contains(html, "class=\"picture\"")) << "no SVG, no picture";
}

TEST(RenderHtml, GivenTableReplacesTheEdgeTable) {
  std::string html = toHtml(smallGraph(), "t", kFakeSvg, "<table id=\"expectations\"></table>\n");
  EXPECT_TRUE(contains(html, "<table id=\"expectations\"></table>\n</body>"));
  EXPECT_FALSE(contains(html, "<th>From</th>"));
}

TEST(RenderHtml, EmptyGraphHasNoEdgeTable) {
  std::string html = toHtml(Graph{}, "t", "", "");
  EXPECT_TRUE(contains(html, "<p>No edges.</p>"));
  EXPECT_FALSE(contains(html, "<table"));
}

TEST(RenderHtml, EscapeCoversMarkupAndQuotes) {
  EXPECT_EQ(htmlEscape("a<b>&\"c\"'d'"), "a&lt;b&gt;&amp;&quot;c&quot;&#39;d&#39;");
  EXPECT_EQ(htmlEscape("plain text"), "plain text");
  EXPECT_EQ(htmlEscape(""), "");
}

}  // namespace
}  // namespace sluice::review
