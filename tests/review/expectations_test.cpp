// `sluice test` expectations files (review/expectations.h): malformed ones
// refused with their full rendered diagnostics, a good one read, and the port
// intervals behind `ports: any`. The checks are in expectations_check_test.cpp.
#include <gtest/gtest.h>

#include "review/expectations.h"

namespace sluice::review {
namespace {

// ---- parse errors ----------------------------------------------------------------

// The diagnostics of parsing `text` as t.yaml, rendered with their source lines.
std::string parseErrors(const std::string& text) {
  Diagnostics diags;
  auto parsed = parseExpectations("t.yaml", text, diags);
  EXPECT_FALSE(parsed) << text;
  EXPECT_TRUE(diags.hasErrors()) << text;
  return diags.render();
}

TEST(ExpectationsParse, NotAMapping) {
  EXPECT_EQ(parseErrors("- from: {namespace: x}\n"),
            "t.yaml:1:1: error: expected a mapping with `expectations:` (a list of expectations) and optionally "
            "`cluster:`\n"
            "    1 | - from: {namespace: x}\n"
            "      | ^\n");
}

TEST(ExpectationsParse, InvalidYaml) {
  EXPECT_EQ(parseErrors("expectations:\n- from: {namespace: x\n"),
            "t.yaml:3:1: error: invalid YAML: did not find expected ',' or '}' while parsing a flow mapping started "
            "on line 2\n");
}

TEST(ExpectationsParse, MisspeltKeyAndMissingList) {
  EXPECT_EQ(parseErrors("cluster: ../c\nexpectation:\n- expect: allow\n"),
            "t.yaml:2:1: error: expectation: unknown field 'expectation': did you mean `expectations`?\n"
            "    2 | expectation:\n"
            "      | ^\n"
            "t.yaml:1:1: error: expectations: required field is missing: a list of expectations\n"
            "    1 | cluster: ../c\n"
            "      | ^\n");
}

TEST(ExpectationsParse, BadSelectorPortAndVerdict) {
  EXPECT_EQ(parseErrors("expectations:\n"
                        "- from: {namespace: x, selector: \"app=web tier=db\"}\n"
                        "  to: {namespace: y}\n"
                        "  ports: [80/TCP, 70000/TCP, 53/QUIC]\n"
                        "  expect: permit\n"),
            "t.yaml:2:34: error: expectations[0].from.selector: invalid selector 'app=web tier=db': expected ',' "
            "between requirements at column 9 (kubectl -l syntax: \"app=web,tier!=db\", \"env in (a,b)\", "
            "\"!legacy\")\n"
            "    2 | - from: {namespace: x, selector: \"app=web tier=db\"}\n"
            "      |                                  ^\n"
            "t.yaml:4:19: error: expectations[0].ports[1]: '70000/TCP': expected PORT/PROTOCOL with PORT in "
            "1..65535, e.g. 80/TCP\n"
            "    4 |   ports: [80/TCP, 70000/TCP, 53/QUIC]\n"
            "      |                   ^\n"
            "t.yaml:4:30: error: expectations[0].ports[2]: '53/QUIC': protocol must be TCP, UDP, SCTP or ICMP\n"
            "    4 |   ports: [80/TCP, 70000/TCP, 53/QUIC]\n"
            "      |                              ^\n"
            "t.yaml:5:11: error: expectations[0].expect: unsupported value \"permit\": supported values: \"allow\", "
            "\"deny\"\n"
            "    5 |   expect: permit\n"
            "      |           ^\n");
}

TEST(ExpectationsParse, SidesThatCannotBe) {
  EXPECT_EQ(parseErrors("expectations:\n"
                        "- from: {service: x/web}\n"
                        "  to: {pod: db, selector: app=db}\n"
                        "  ports: [5432]\n"
                        "  expect: deny\n"),
            "t.yaml:2:10: error: expectations[0].from.service: a service is never the source of a flow: name the "
            "pods behind it\n"
            "    2 | - from: {service: x/web}\n"
            "      |          ^\n"
            "t.yaml:3:8: error: expectations[0].to.pod: `pod` needs `namespace`: pods are named within their "
            "namespace\n"
            "    3 |   to: {pod: db, selector: app=db}\n"
            "      |        ^\n"
            "t.yaml:3:8: error: expectations[0].to.pod: `pod` names one pod: leave out `selector` and "
            "`namespaceSelector`\n"
            "    3 |   to: {pod: db, selector: app=db}\n"
            "      |        ^\n");
}

TEST(ExpectationsParse, PortsOfServicesAndPods) {
  EXPECT_EQ(parseErrors("expectations:\n"
                        "- from: {namespace: x}\n"
                        "  to: {service: x/web}\n"
                        "  ports: any\n"
                        "  expect: allow\n"
                        "- from: {namespace: x}\n"
                        "  to: {namespace: y}\n"
                        "  expect: allow\n"
                        "- from: {namespace: x}\n"
                        "  to: {namespace: y}\n"
                        "  ports: [any, 80]\n"
                        "  expect: allow\n"),
            "t.yaml:4:10: error: expectations[0].ports: a service listens only on its own ports: leave `ports` out "
            "to check each of them\n"
            "    4 |   ports: any\n"
            "      |          ^\n"
            "t.yaml:6:3: error: expectations[1].ports: required field is missing: a list such as [8080/TCP, 53/UDP], "
            "or any\n"
            "    6 | - from: {namespace: x}\n"
            "      |   ^\n"
            "t.yaml:11:11: error: expectations[2].ports[0]: `any` stands alone: write `ports: any`\n"
            "   11 |   ports: [any, 80]\n"
            "      |           ^\n");
}

TEST(ExpectationsParse, MissingSidesVerdictAndASecondDocument) {
  EXPECT_EQ(parseErrors("expectations:\n- ports: [80]\n"),
            "t.yaml:2:3: error: expectations[0].from: required field is missing (pods: namespace, pod, selector, "
            "namespaceSelector)\n"
            "    2 | - ports: [80]\n"
            "      |   ^\n"
            "t.yaml:2:3: error: expectations[0].to: required field is missing (pods: namespace, pod, selector, "
            "namespaceSelector; or service)\n"
            "    2 | - ports: [80]\n"
            "      |   ^\n"
            "t.yaml:2:3: error: expectations[0].expect: required field is missing: allow or deny\n"
            "    2 | - ports: [80]\n"
            "      |   ^\n");
  EXPECT_EQ(parseErrors("expectations: []\n---\nexpectations: []\n"),
            "t.yaml:3:1: error: one expectations document per file (this is a second one)\n"
            "    3 | expectations: []\n"
            "      | ^\n");
}

TEST(ExpectationsParse, AGoodFile) {
  Diagnostics diags;
  auto file = parseExpectations("dir/t.yaml",
                                "cluster: [../manifests, /abs/more.yaml]\n"
                                "expectations:\n"
                                "- from: {namespace: x, pod: a}\n"
                                "  to: {namespaceSelector: \"team in (red,blue)\", selector: {app: db}}\n"
                                "  ports: 5432\n"
                                "  expect: deny\n"
                                "- name: web uses the api\n"
                                "  from: {}\n"
                                "  to: {service: x/api}\n"
                                "  expect: allow\n",
                                diags);
  ASSERT_TRUE(file) << diags.render();
  EXPECT_EQ(file->cluster, (std::vector<std::string>{"manifests", "/abs/more.yaml"}));
  ASSERT_EQ(file->expectations.size(), 2u);
  const Expectation& e = file->expectations[0];
  EXPECT_EQ(e.name, "x/a -> pods app=db in namespaces team in (blue,red) on 5432/TCP: deny");
  EXPECT_EQ(e.to.field, "expectations[0].to.selector");
  EXPECT_EQ(e.loc.str(), "dir/t.yaml:3:3");
  EXPECT_EQ(file->expectations[1].name, "web uses the api");
  EXPECT_EQ(file->expectations[1].from.str(), "every pod");
  EXPECT_TRUE(file->expectations[1].ports.empty());
}

// ---- ports: any ------------------------------------------------------------------

ir::PortRange range(uint16_t first, uint16_t last, ir::L4Proto proto = ir::L4Proto::TCP) {
  ir::PortRange r;
  r.proto = proto;
  r.first = first;
  r.last = last;
  return r;
}

TEST(PortIntervals, OneProbePerIntervalBetweenRangeBoundaries) {
  using V = std::vector<uint16_t>;
  EXPECT_EQ(portIntervalStarts({}), V{1});
  EXPECT_EQ(portIntervalStarts({range(80, 80)}), (V{1, 80, 81}));
  EXPECT_EQ(portIntervalStarts({range(8000, 8999), range(0, 65535), range(8080, 8080)}),
            (V{1, 8000, 8080, 8081, 9000}));
  EXPECT_EQ(portIntervalStarts({range(1, 10), range(65535, 65535)}), (V{1, 11, 65535}));
  EXPECT_EQ(portIntervalStarts({range(5000, 5010), range(5005, 5020)}), (V{1, 5000, 5005, 5011, 5021}));
}

TEST(PortIntervals, PerProtocolFromEgressOfTheSourceAndIngressOfTheDestination) {
  auto ruleWith = [](std::vector<ir::PortRange> ports) {
    ir::Rule r;
    r.l4.ports = std::move(ports);
    return r;
  };
  ir::Endpoint from, to;
  from.egress.rules = {ruleWith({range(53, 53, ir::L4Proto::UDP)})};
  from.ingress.rules = {ruleWith({range(7000, 7000)})};  // not on the path: no boundary
  to.ingress.rules = {ruleWith({range(5000, 5010), range(2905, 2910, ir::L4Proto::SCTP)})};
  to.egress.rules = {ruleWith({range(6000, 6000)})};  // not on the path either
  std::vector<std::string> probes;
  for (const auto& p : anyPortProbes(&from, &to)) probes.push_back(p.str());
  EXPECT_EQ(probes, (std::vector<std::string>{"1/TCP", "5000/TCP", "5011/TCP", "1/UDP", "53/UDP", "54/UDP", "1/SCTP",
                                              "2905/SCTP", "2911/SCTP"}));
  EXPECT_EQ(anyPortProbes(nullptr, nullptr).size(), 3u);  // hostNetwork pods: one probe per protocol
}

}  // namespace
}  // namespace sluice::review
