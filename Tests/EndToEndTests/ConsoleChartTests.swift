import Foundation
import RMMAPI
import RMMProtocol
import RMMTestSupport
import Testing

extension EndToEnd {
    /// The agent page's metric charts against the real binary: a real agent's heartbeats become
    /// points, served as SVG images under the console's CSP, they survive a server restart, and
    /// on two nodes sharing PostgreSQL one node draws what the other saved.
    @Suite("End to end: console metric charts", .serialized)
    struct ConsoleChartTests {
        @Test("an agent's heartbeats show in its page's charts, from the session and, after a restart, from the store")
        func chartsFromHeartbeats() async throws {
            try await withFleet(agents: ["chart-1"], fastLiveness: true) { server, agents in
                let api = server.api
                try await waitUntil("metrics in heartbeats") {
                    try await api.agent(named: "chart-1")?.metrics?.memoryTotalBytes != nil
                }
                let id = try #require(try await server.api.agent(named: "chart-1")?.id)
                var http = ConsoleHTTP(port: server.apiPort)
                var cookie = try await ConsoleTests.login(http, token: server.token)
                let page = try await http.send("GET", "/agents/\(id)", cookie: cookie)
                #expect(page.status == 200 && page.header("content-security-policy") == ConsoleTests.csp)
                #expect(page.body.contains("data-test=\"metric-chart-day\" class=\"metric-chart\" src=\"/agents/\(id)/metrics.svg?range=day\""))
                #expect(page.body.contains("src=\"/agents/\(id)/metrics.svg?range=month\""))
                #expect(!page.body.contains("style="), "no inline style")

                let day = try await http.send("GET", "/agents/\(id)/metrics.svg?range=day", cookie: cookie)
                #expect(day.status == 200 && day.header("content-type")?.hasPrefix("image/svg+xml") == true)
                #expect(day.body.contains("data-range=\"day\"") && day.body.contains("data-series=\"memory\""))
                #expect(!day.body.contains("style="))
                let month = try await http.send("GET", "/agents/\(id)/metrics.svg?range=month", cookie: cookie)
                #expect(month.status == 200 && month.body.contains("data-series=\"memory\""))
                #expect(try await http.send("GET", "/agents/\(id)/metrics.svg?range=year", cookie: cookie).status == 400)
                #expect(try await http.send("GET", "/agents/\(id)/metrics.svg?range=day").status != 200, "signed in only")

                // The agent leaves (its session writes the history), the server restarts: the
                // chart comes from the store.
                for agent in agents { await agent.stop() }
                try await waitUntil("the agent's connection ended") {
                    try await api.agent(named: "chart-1")?.disconnectedAt != nil
                }
                try await server.restart(adding: [])
                http = ConsoleHTTP(port: server.apiPort)
                cookie = try await ConsoleTests.login(http, token: server.token)
                let stored = try await http.send("GET", "/agents/\(id)/metrics.svg?range=day", cookie: cookie)
                #expect(stored.status == 200 && stored.body.contains("data-series=\"memory\""))
            }
        }

        @Test("on two nodes sharing PostgreSQL, the node the agent was never on draws its chart from what the other node saved")
        func chartsAcrossNodes() async throws {
            let postgres = try await PostgresTestServer.shared()
            let url = try await postgres.createDatabase(prefix: "charts")
            let first = try await E2EServer.start(["--store", url, "--node-name", "n1"])
            let state = try freeTemporaryDirectory(prefix: "gururmm-charts")
            var second: ManagedProcess?
            var agent: E2EAgent?
            do {
                let joined = try await JoinedNode.start(joining: first, store: url, name: "n2", state: state)
                second = joined.process
                let port = try #require(URLComponents(string: joined.api.base)?.port)
                let api = first.api
                try await api.useFastLiveness()
                agent = try E2EAgent.start(name: "chart-n1", server: first.agentURL, enrollToken: try await api.enrollToken())
                try await waitUntil("metrics in heartbeats on node 1") {
                    try await api.agent(named: "chart-n1")?.metrics?.memoryTotalBytes != nil
                }
                let id = try #require(try await api.agent(named: "chart-n1")?.id)
                // The agent leaves node 1, whose session writes its history to the shared store.
                await agent?.stop()
                agent = nil
                try await waitUntil("the agent's connection ended") {
                    try await api.agent(named: "chart-n1")?.disconnectedAt != nil
                }
                let http = ConsoleHTTP(port: port)
                let cookie = try await ConsoleTests.login(http, token: first.token)
                let chart = try await http.send("GET", "/agents/\(id)/metrics.svg?range=day", cookie: cookie)
                #expect(chart.status == 200 && chart.body.contains("data-series=\"memory\""), "node 2 draws node 1's points")
            } catch {
                Issue.record("\(error)\n---- n1 ----\n\(first.process.logContents().suffix(4000))\n---- n2 ----\n\(second?.logContents().suffix(4000) ?? "")")
            }
            await agent?.stop()
            if let second { _ = try? await second.terminateAndWait(grace: .seconds(5)) }
            await first.stop()
        }
    }
}
