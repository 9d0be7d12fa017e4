import Foundation
import RMMAPI
import RMMProtocol
import RMMTestSupport
import RMMTransport
import Testing

extension EndToEnd {
    /// Two nodes on one PostgreSQL store behind haproxy (`balance roundrobin`, so an agent's
    /// successive connections alternate nodes), with an agent on the long-poll downlink: every
    /// other poll lands on the node that does not hold the agent's WebSocket, which forwards it.
    @Suite("End to end: long-poll forwarding between nodes", .serialized)
    struct PollForwardingTests {
        @Test("two nodes behind haproxy with an agent on the poll downlink: polls that land on the other node are forwarded, and commands complete",
              arguments: [false, true])
        func pollDownlinkBehindHAProxy(tls: Bool) async throws {
            let haproxy = try ClusterEdgeTests.requireHAProxy()
            let postgres = try await PostgresTestServer.shared()
            let url = try await postgres.createDatabase(prefix: "poll_forward")
            // haproxy connects from 127.0.0.2 and names the agent (127.0.0.1) in its PROXY header.
            let first = try await E2EServer.start(["--store", url, "--node-name", "n1", "--trusted-proxy", "127.0.0.2/32"], tls: tls)
            var second: ManagedProcess?
            var balancer: ManagedProcess?
            var agent: E2EAgent?
            do {
                let (node, secondAgentPort) = try await Self.startSecondNode(joining: first, store: url, tls: tls)
                second = node
                let (process, port) = try await ClusterEdgeTests.startHAProxy(haproxy, directory: first.directory, upstreamPorts: [first.agentPort, secondAgentPort])
                balancer = process
                let client = try ClusterEdgeTests.client(of: first)
                let token = try await client.createEnrollmentToken(expiresSeconds: 600, uses: 1).token ?? ""
                agent = try E2EAgent.start(name: "poller", server: "\(tls ? "wss" : "ws")://127.0.0.1:\(port)", enrollToken: token, arguments: ["--downlink", "poll"])
                // Connected, as this node sees it in the store (whichever node holds the session):
                // "online" from another node waits for the holder's next liveness flush, and the
                // commands below prove the downlink anyway.
                try await waitUntil("poller connected", timeout: .seconds(60)) {
                    try await client.agents().contains { $0.name == "poller" && $0.status != .offline }
                }
                // The downlink mode is the holding node's in-memory fact; the agent says it too.
                #expect(agent?.process.logContents().contains("connected with downlink poll") == true)
                for index in 1...3 {
                    let batch = try await client.run(RunRequest(agents: ["poller"], all: nil, command: "echo polled-\(index)", script: nil, interpreter: nil,
                                                                timeoutSeconds: 60, expiresSeconds: 60))
                    let id = try #require(batch.commands.first).commandId
                    try await waitUntil("command \(index) ends", timeout: .seconds(60)) { try await client.command(id).state.isTerminal }
                    let result = try await client.command(id)
                    #expect(result.state == .succeeded)
                    #expect(result.stdout == "polled-\(index)\n")
                }
                // A poll reached the node holding the WebSocket through the other node, and the
                // holding node saw the agent's own address (as haproxy reported it), not the
                // forwarding node's.
                let logs = first.process.logContents() + node.logContents()
                let forwardedFor = logs.split(separator: "\n").compactMap { line -> String? in
                    guard let start = line.range(of: "long-poll of agent "), let end = line.range(of: " forwarded by node at ") else { return nil }
                    return String(line[start.upperBound..<end.lowerBound])
                }
                #expect(!forwardedFor.isEmpty, "no poll was forwarded")
                let reported = Set(process.logContents().split(separator: "\n").compactMap { line -> String? in
                    line.range(of: "client ").map { String(line[$0.upperBound...]).trimmingCharacters(in: .whitespaces) }
                })
                for address in forwardedFor {
                    #expect(reported.contains(address), "a forwarded poll named \(address); haproxy's clients were \(reported.sorted())")
                }
                #expect(!logs.contains("unknown or closed connection"), "a poll was answered 410")
                #expect(agent?.process.logContents().contains("long-poll downlink") == false, "the agent's poll downlink failed")
            } catch {
                Issue.record("\(error)\n---- n1 ----\n\(first.process.logExcerpt(tail: 6000))\n---- n2 ----\n\(second?.logExcerpt(tail: 6000) ?? "")\n---- haproxy ----\n\(balancer?.logExcerpt(tail: 2000) ?? "")\n---- agent ----\n\(agent?.process.logExcerpt(tail: 4000) ?? "")")
            }
            await agent?.stop()
            if let balancer { _ = try? await balancer.terminateAndWait(grace: .seconds(5)) }
            _ = try? await second?.terminateAndWait(grace: .seconds(5))
            await first.stop()
        }

        @Test("a poll aimed straight at a node: a made-up node tag is 410, a forged forwarding header 403")
        func hostilePolls() async throws {
            let postgres = try await PostgresTestServer.shared()
            let url = try await postgres.createDatabase(prefix: "poll_hostile")
            let first = try await E2EServer.start(["--store", url, "--node-name", "n1"])
            do {
                let id = "k_" + String(repeating: "ab", count: 6) + String(repeating: "0", count: 32)
                let path = DownlinkPollQuery(after: 0, wait: 1).uri(connectionId: id)
                let unknown = try await OneShotHTTP.request(.GET, host: "127.0.0.1", port: first.agentPort, path: path, tls: nil, timeout: .seconds(10))
                #expect(unknown.status == 410, "\(unknown.status) \(String(decoding: unknown.body, as: UTF8.self))")
                let forged = try await OneShotHTTP.request(
                    .GET, host: "127.0.0.1", port: first.agentPort, path: path, tls: nil,
                    headers: [("X-GuruRMM-Forwarded", "v1 \(Int(Date().timeIntervalSince1970)) \(String(repeating: "A", count: 43)) 203.0.113.9:1")],
                    timeout: .seconds(10)
                )
                #expect(forged.status == 403, "\(forged.status) \(String(decoding: forged.body, as: UTF8.self))")
                #expect(first.process.logContents().contains("refused a long-poll from 127.0.0.1:"))
            } catch {
                Issue.record("\(error)\n---- n1 ----\n\(first.process.logExcerpt(tail: 6000))")
            }
            await first.stop()
        }

        @Test("--peer-url is refused when it does not fit: a scheme other than the agent port's, a path, or no --store")
        func peerURLChecked() async throws {
            let data = try freeTemporaryDirectory(prefix: "gururmm-peer-url") + "/data"
            let store = "postgres://rmm@127.0.0.1:1/none"
            for (arguments, words) in [
                (["--plain", "--store", store, "--peer-url", "wss://10.0.0.2:7443"], "not a ws:// URL"),
                (["--store", store, "--peer-url", "ws://10.0.0.2:7443"], "not a wss:// URL"),
                (["--plain", "--store", store, "--peer-url", "ws://10.0.0.2:7443/x"], "a URL with a path"),
                (["--plain", "--peer-url", "ws://10.0.0.2:7443"], "--peer-url goes with --store"),
            ] {
                let process = try ManagedProcess.start(try gururmmBinary(), arguments: ["server", "--data-dir", data] + arguments,
                                                       logPath: data + "-\(UUID().uuidString).log")
                let code = try await process.waitForExit(timeout: .seconds(60))
                #expect(code != 0 && process.logContents().contains(words), "\(arguments): \(process.logContents())")
            }
        }

        /// A second node on `store` with `first`'s keys (`cluster export-keys`): its process and agent port.
        static func startSecondNode(joining first: E2EServer, store: String, tls: Bool) async throws -> (ManagedProcess, Int) {
            let data = try freeTemporaryDirectory(prefix: "gururmm-poll-n2") + "/data"
            let export = try ManagedProcess.start(try gururmmBinary(), arguments: ["cluster", "export-keys", "--data-dir", first.dataDirectory, "--out", data],
                                                  logPath: data + "-export.log")
            let code = try await export.waitForExit(timeout: .seconds(60))
            guard code == 0 else { throw E2EError("export-keys failed: \(export.logContents())") }
            let node = try ManagedProcess.start(try gururmmBinary(), arguments: ["server"] + (tls ? [] : ["--plain"]) + [
                "--data-dir", data, "--agent-listen", "127.0.0.1:0", "--api-listen", "127.0.0.1:0",
                "--store", store, "--node-name", "n2", "--trusted-proxy", "127.0.0.2/32", "--log-level", "debug",
            ], logPath: data + "-server.log")
            try await waitUntil("the second node is ready", timeout: .seconds(60)) {
                if !node.isRunning { throw E2EError("the second node exited:\n\(node.logContents())") }
                return FileManager.default.fileExists(atPath: data + "/server.json")
            }
            let ready = try APICoding.decoder().decode(ServerReady.self, from: Data(contentsOf: URL(fileURLWithPath: data + "/server.json")))
            return (node, ready.agentPort)
        }
    }
}
