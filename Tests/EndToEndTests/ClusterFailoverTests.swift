import Foundation
import RMMAPI
import RMMProtocol
import RMMStore
import RMMTestSupport
import Testing

extension EndToEnd {
    /// Two server nodes on one PostgreSQL database, with simulated agents spread over both: work
    /// crosses nodes, and a node killed in the middle of a fan-out loses nothing and runs nothing twice.
    @Suite("End to end: two nodes on PostgreSQL, one killed mid-fan-out", .serialized)
    struct ClusterFailoverTests {
        @Test("a fan-out from node 2 reaches agents on node 1; node 1 is SIGKILLed as the next fan-out is posted; every command ends once, succeeded, run once")
        func killedNodeLosesNothing() async throws {
            let postgres = try await PostgresTestServer.shared()
            let url = try await postgres.createDatabase(prefix: "failover")
            let first = try await E2EServer.start(["--store", url, "--node-name", "n1"])
            var second: ManagedProcess?
            var sims: [ManagedProcess] = []
            let state = try freeTemporaryDirectory(prefix: "gururmm-failover")
            do {
                let joined = try await JoinedNode.start(joining: first, store: url, name: "n2", state: state)
                second = joined.process
                let api2 = joined.api
                let node2URL = joined.agentURL

                // 20 agents prefer node 1, 20 prefer node 2; each knows both.
                let token = try await first.api.enrollToken(uses: 40)
                for (run, servers) in [[first.agentURL, node2URL], [node2URL, first.agentURL]].enumerated() {
                    let directory = state + "/sim-\(run)"
                    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
                    sims.append(try ManagedProcess.start(try gururmmBinary(), arguments: ["fleet-sim", "--agents", "20", "--state-dir", directory,
                        "--max-backoff", "1", "--status-interval", "1", "--log-level", "notice", "--allow-plain", "--enroll-token", token, "--json"]
                        + servers.flatMap { ["--server", $0] }, logPath: directory + "/sim.log"))
                }
                // Status is read from node 2: agents connected to node 1 show online there too.
                try await waitUntil("40 agents online as node 2 sees them", timeout: .seconds(60)) {
                    let agents = try await api2.agents()
                    return agents.count == 40 && agents.allSatisfy { $0.status == .online }
                }

                // A fan-out from node 2 reaches the agents held by node 1.
                let warmup = try await api2.finish(try await api2.call("POST", "/api/v1/commands", body: RunRequest(
                    agents: nil, all: true, command: "true", script: nil, interpreter: nil, timeoutSeconds: 30, expiresSeconds: 60)), timeout: 30)
                #expect(warmup.count == 40 && warmup.allSatisfy { $0.state == .succeeded },
                        "\(warmup.filter { $0.state != .succeeded }.map { "\($0.agent ?? $0.agentId): \($0.state.rawValue) \($0.reason ?? "")" })")

                // Node 1 is killed the moment the fan-out is posted, so its agents' commands may be in
                // any state there (queued, sent, delivered, answered but unacknowledged); they move to node 2.
                let batch: RunResponse = try await api2.call("POST", "/api/v1/commands", body: RunRequest(
                    agents: nil, all: true, command: "echo once", script: nil, interpreter: nil, timeoutSeconds: 30, expiresSeconds: 60))
                first.process.signal(SIGKILL)
                let results = try await api2.finish(batch, timeout: 60)
                #expect(results.count == 40)
                #expect(results.allSatisfy { $0.state == .succeeded },
                        "\(results.filter { $0.state != .succeeded }.map { "\($0.agent ?? $0.agentId): \($0.state.rawValue) \($0.reason ?? "")" })")
                for result in results {
                    let history = try await api2.command(result.id).events ?? []
                    #expect(history.filter { $0.state == CommandState.succeeded }.count == 1, "\(result.id): \(history.map { $0.state.rawValue })")
                }

                // Each simulated agent ran each command once: what they admitted (a redelivery from
                // node 2 of a command node 1 had sent is recognised and not run) is exactly the two fan-outs.
                var ran = 0
                for sim in sims { ran += try await sim.stopFleetSimCountingRuns() }
                #expect(ran == 80, "each of 40 agents runs each of 2 commands once")
            } catch {
                Issue.record("\(error)\n---- node 2 log (tail) ----\n\(second?.logExcerpt(tail: 6000) ?? "")\n---- node 1 log (tail) ----\n\(first.process.logExcerpt(tail: 4000))")
            }
            for sim in sims { _ = try? await sim.terminateAndWait(grace: .seconds(5)) }
            _ = try? await second?.terminateAndWait(grace: .seconds(5))
            await first.stop()
        }
    }
}
