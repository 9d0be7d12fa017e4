import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import RMMAPI
import RMMProtocol
import RMMTestSupport
import Testing

extension EndToEnd {
    /// `/metrics` on a real server with a real agent: who may read it on each listener, that it is
    /// the exposition format throughout, that running a command moves its figures, and that nothing
    /// an agent sent reaches it.
    @Suite("End to end: Prometheus metrics", .serialized)
    struct MetricsTests {
        /// A name with markup, quotes, a newline and the shape of a sample's end: none of it may
        /// appear in a scrape (the server keeps the name once its control characters are dropped).
        static let hostileName = "<script>alert(\"m3tr1cs\")</script>\"} 1\nevil=\"pwn"

        /// One GET without following redirects: status, Content-Type and body.
        private func fetch(_ url: String, token: String?) async throws -> (status: Int, contentType: String?, body: String) {
            var request = URLRequest(url: try #require(URL(string: url)), cachePolicy: .reloadIgnoringLocalCacheData, timeoutInterval: 30)
            if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
            let (data, response) = try await URLSession.shared.data(for: request)
            let http = try #require(response as? HTTPURLResponse)
            return (http.statusCode, http.value(forHTTPHeaderField: "Content-Type"), String(decoding: data, as: UTF8.self))
        }

        /// Scrapes `url` and parses the whole body strictly.
        private func scrape(_ url: String, token: String?) async throws -> (samples: [PrometheusExposition.Sample], body: String) {
            let answer = try await fetch(url, token: token)
            #expect(answer.status == 200, "\(url): \(answer.body)")
            #expect(answer.contentType == "text/plain; version=0.0.4")
            return (try PrometheusExposition.parse(answer.body), answer.body)
        }

        @Test("a viewer token reads /metrics on the API port, --metrics-listen needs none; a command moves the counters; no agent text leaks")
        func scrapes() async throws {
            let server = try await E2EServer.start(["--metrics-listen", "127.0.0.1:0"])
            var agent: E2EAgent?
            do {
                let ready = try APICoding.decoder().decode(ServerReady.self, from: Data(contentsOf: URL(fileURLWithPath: server.dataDirectory + "/server.json")))
                let open = try #require(ready.metricsUrl, "server.json names the metrics listener")
                let onAPI = "http://127.0.0.1:\(server.apiPort)/metrics"

                let refused = try await fetch(onAPI, token: nil)
                #expect(refused.status == 401)
                #expect(refused.body.contains("\"message\""), "the API's JSON error")
                #expect(try await fetch(onAPI, token: "not-a-token").status == 401)
                let viewer: APITokenView = try await server.api.call("POST", "/api/v1/tokens", body: APITokenRequest(name: "prometheus", role: "viewer"))
                let viewerToken = try #require(viewer.token)
                let before = try await scrape(onAPI, token: viewerToken).samples
                // The token-free listener serves the metrics and nothing else.
                #expect(try await fetch(open.replacingOccurrences(of: "/metrics", with: "/api/v1/agents"), token: nil).status == 404)

                try await server.api.useFastLiveness()
                agent = try E2EAgent.start(name: Self.hostileName, server: server.agentURL, enrollToken: try await server.api.enrollToken(uses: 1))
                let api = server.api
                try await waitUntil("the agent is online", timeout: .seconds(30)) { try await api.agents().first?.status == .online }
                let agentId = try #require(try await server.api.agents().first?.id)
                let batch = try await server.api.run([agentId], "true")
                let finished = try await server.api.finish(batch)
                #expect(finished.map(\.state) == [.succeeded])

                // The pong histogram fills at the session's ticks: wait for its first sample.
                try await waitUntil("a pong is observed", timeout: .seconds(20), poll: .milliseconds(200)) {
                    (try await scrape(open, token: nil).samples.value("gururmm_pong_rtt_seconds_count") ?? 0) >= 1
                }
                let after = try await scrape(open, token: nil)
                let succeeded = ["state": "succeeded"]
                #expect(after.samples.value("gururmm_commands_total", succeeded) == (before.value("gururmm_commands_total", succeeded) ?? -1) + 1)
                #expect(after.samples.value("gururmm_command_dispatch_to_result_seconds_count") == (before.value("gururmm_command_dispatch_to_result_seconds_count") ?? -1) + 1)
                #expect((after.samples.value("gururmm_command_sent_to_delivered_seconds_count") ?? 0) >= 1)
                #expect((after.samples.value("gururmm_store_commit_duration_seconds_count", ["backend": "sqlite"]) ?? 0) > 0)
                #expect(after.samples.value("gururmm_agents", ["status": "online"]) == 1)
                #expect(after.samples.value("gururmm_node_sessions", ["status": "online", "downlink": "text"]) == 1)
                // The same figures on the API port, with the token.
                let viaAPI = try await scrape(onAPI, token: viewerToken).samples
                #expect(viaAPI.value("gururmm_commands_total", succeeded) == after.samples.value("gururmm_commands_total", succeeded))

                let stored = try #require(try await server.api.agents().first?.name)
                for fragment in ["script", "m3tr1cs", "pwn", "evil", stored] {
                    #expect(!after.body.contains(fragment), "the scrape holds \(String(reflecting: fragment)) from the agent's name")
                }
            } catch {
                Issue.record("\(error)\n---- server log (tail) ----\n\(server.process.logExcerpt(tail: 6000))")
            }
            await agent?.stop()
            await server.stop()
        }

        @Test("a --metrics-listen that is not HOST:PORT stops the start with a message naming the option", arguments: ["nonsense", "127.0.0.1:99999", ":9100"])
        func badListenAddress(value: String) async throws {
            let directory = try freeTemporaryDirectory(prefix: "gururmm-metrics-flag")
            let process = try ManagedProcess.start(try gururmmBinary(), arguments: [
                "server", "--plain", "--data-dir", directory + "/data", "--agent-listen", "127.0.0.1:0", "--api-listen", "127.0.0.1:0",
                "--metrics-listen", value,
            ], logPath: directory + "/server.log")
            let code = try await process.waitForExit(timeout: .seconds(60))
            let output = process.logContents()
            #expect(code != 0)
            #expect(output.contains("--metrics-listen"), "\(output)")
            #expect(!FileManager.default.fileExists(atPath: directory + "/data/server.json"))
        }
    }
}
