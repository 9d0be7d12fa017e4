import Foundation
import RMMAPI
import RMMStore
import RMMTestSupport
import Testing

extension EndToEnd {
    /// The console's sites page on a cluster: addresses from the store, and the ranges an admin names.
    @Suite("End to end: console sites", .serialized)
    struct ConsoleSitesTests {
        @Test("on two nodes sharing PostgreSQL, the node without the agents groups them by their stored address; a named range wins over the /24, a bad one is refused and nothing saved, a viewer cannot name sites")
        func sitesAcrossNodesAndNamedRanges() async throws {
            let postgres = try await PostgresTestServer.shared()
            let url = try await postgres.createDatabase(prefix: "sites")
            let first = try await E2EServer.start(["--store", url, "--node-name", "n1"])
            var second: ManagedProcess?
            await withFleet(on: first, agents: ["site-1", "site-2"]) { first, _ in
                let state = try freeTemporaryDirectory(prefix: "gururmm-sites")
                let joined = try await JoinedNode.start(joining: first, store: url, name: "n2", state: state)
                second = joined.process
                let node2 = ConsoleHTTP(port: try #require(URL(string: joined.api.base)?.port))
                let cookie = try await ConsoleTests.login(node2, token: first.token)
                let sites = try await node2.send("GET", "/sites", cookie: cookie)
                #expect(sites.status == 200 && sites.body.contains("data-network=\"127.0.0.0/24\"") && sites.body.contains(">site-1</a>")
                        && sites.body.contains(">site-2</a>") && sites.body.contains("2 agents behind 127.0.0.1"), "\(sites.body.suffix(1500))")
                #expect(sites.body.contains("0 agents have never connected"))
                #expect(sites.body.contains("id=\"named-sites-form\""), "an admin may name sites")

                let bad = try await node2.send("POST", "/sites/named", cookie: cookie,
                                               form: [("csrf", try #require(sites.csrf)), ("ranges", "Lab: 127.0.0.0/8\nOffice: 203.0.113.5/24")])
                #expect(bad.status == 400 && bad.body.contains("line 2: &#39;203.0.113.5/24&#39; has host bits set; the range is 203.0.113.0/24"),
                        "\(bad.body.suffix(1500))")
                #expect(bad.body.contains("Office: 203.0.113.5/24"), "the text comes back as typed")
                let unchanged = try await ConsoleHTTP(port: first.apiPort).send("GET", "/sites", cookie: cookie)
                #expect(unchanged.body.contains("data-network=\"127.0.0.0/24\"") && !unchanged.body.contains("data-named"), "nothing was saved")

                let noCSRF = try await node2.send("POST", "/sites/named", cookie: cookie, form: [("ranges", "Lab: 127.0.0.0/8")])
                #expect(noCSRF.status == 403)
                let saved = try await node2.send("POST", "/sites/named", cookie: cookie,
                                                 form: [("csrf", try #require(sites.csrf)), ("ranges", "Loopback lab: 127.0.0.0/8, ::1/128")])
                #expect(saved.status == 303 && saved.header("location") == "/sites")
                // The other node reads the same setting.
                let node1 = ConsoleHTTP(port: first.apiPort)
                let named = try await node1.send("GET", "/sites", cookie: cookie)
                #expect(named.body.contains("data-network=\"Loopback lab\" data-named=\"true\"") && !named.body.contains("data-network=\"127.0.0.0/24\"")
                        && named.body.contains("2 agents behind 127.0.0.1"), "\(named.body.suffix(1500))")
                #expect(named.body.contains("Loopback lab: 127.0.0.0/8, ::1/128"), "the form shows the saved ranges")
                let audit: [AuditEntry] = try await first.api.call("GET", "/api/v1/audit?limit=20")
                #expect(audit.filter { $0.action == "console.sites.name" }.map(\.targets) == [["Loopback lab"]], "audited once, the refused save not at all")

                let viewer: APITokenView = try await first.api.call("POST", "/api/v1/tokens", body: APITokenRequest(name: "look", role: "viewer"))
                let viewerCookie = try await ConsoleTests.login(node2, token: try #require(viewer.token))
                let viewerPage = try await node2.send("GET", "/sites", cookie: viewerCookie)
                #expect(viewerPage.status == 200 && viewerPage.body.contains("Loopback lab") && !viewerPage.body.contains("named-sites-form"))
                let refused = try await node2.send("POST", "/sites/named", cookie: viewerCookie,
                                                   form: [("csrf", try #require(viewerPage.csrf)), ("ranges", "")])
                #expect(refused.status == 403 && refused.body.contains("admin role"))
                #expect(try await node1.send("GET", "/sites", cookie: cookie).body.contains("data-network=\"Loopback lab\""), "the viewer changed nothing")
            }
            _ = try? await second?.terminateAndWait(grace: .seconds(5))
        }

        @Test("a trusted proxy's PROXY header names each agent's address: IPv6 is stored as the gateway writes it (no brackets) and grouped by its /64, IPv4-mapped IPv6 by its IPv4's /24; named ranges typed with CRLF take them over, a hostile name shown as text")
        func proxiedAddresses() async throws {
            let server = try await E2EServer.start(["--trusted-proxy", "127.0.0.1/32"])
            let v6 = try await FaultProxy.start(upstreamHost: "127.0.0.1", upstreamPort: server.agentPort,
                                                proxyHeader: "PROXY TCP6 2001:db8:5:6::7 ::1 40000 443\r\n")
            let mapped = try await FaultProxy.start(upstreamHost: "127.0.0.1", upstreamPort: server.agentPort,
                                                    proxyHeader: "PROXY TCP6 ::ffff:203.0.113.9 ::1 40001 443\r\n")
            let routes = ["v6-agent": v6.port, "mapped-agent": mapped.port]
            await withFleet(on: server, agents: ["v6-agent", "mapped-agent", "direct-agent"], agentURL: { name in
                routes[name].map { "ws://127.0.0.1:\($0)" }
            }) { server, _ in
                // What the gateway settled as the client (and the handshake stored): NIO's text of the address, then the port.
                let remote = try #require(try await server.api.agent(named: "v6-agent")?.remoteAddress)
                #expect(remote == "2001:db8:5:6::7:40000")
                #expect(try await server.api.agent(named: "mapped-agent")?.remoteAddress == "::ffff:203.0.113.9:40001")
                let http = ConsoleHTTP(port: server.apiPort)
                let cookie = try await ConsoleTests.login(http, token: server.token)
                let sites = try await http.send("GET", "/sites", cookie: cookie)
                #expect(sites.body.contains("data-network=\"2001:db8:5:6::/64\"") && sites.body.contains("1 agent behind 2001:db8:5:6::7 uses"), "\(sites.body.suffix(2000))")
                #expect(sites.body.contains("data-network=\"203.0.113.0/24\"") && sites.body.contains("1 agent behind 203.0.113.9 uses"))
                #expect(sites.body.contains("data-network=\"127.0.0.0/24\"") && !sites.body.contains("unknown network"))

                let saved = try await http.send("POST", "/sites/named", cookie: cookie,
                                                 form: [("csrf", try #require(sites.csrf)), ("ranges", "HQ: 203.0.113.0/24\r\nV6 <i>\"lab\"</i>: 2001:db8:5::/48\r\n")])
                #expect(saved.status == 303, "\(saved.body.suffix(800))")
                let named = try await http.send("GET", "/sites", cookie: cookie)
                #expect(named.body.contains("data-network=\"HQ\" data-named=\"true\"") && named.body.contains("data-network=\"V6 &lt;i&gt;&quot;lab&quot;&lt;/i&gt;\" data-named=\"true\""),
                        "\(named.body.suffix(2000))")
                #expect(!named.body.contains("data-network=\"203.0.113.0/24\"") && named.body.contains("data-network=\"127.0.0.0/24\""))
                #expect(named.body.contains("HQ: 203.0.113.0/24\nV6 &lt;i&gt;&quot;lab&quot;&lt;/i&gt;: 2001:db8:5::/48"), "saved as two sites, shown one a line")
                #expect(!named.body.contains("<i>"), "a site's name is text, never markup")
            }
            try? await v6.stop()
            try? await mapped.stop()
        }
    }
}

