import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import RMMAPI
import RMMProtocol
import RMMStore
import RMMTestSupport
import Synchronization
import Testing

extension EndToEnd {
    /// Two server nodes on a PostgreSQL of the test's own, restarted under a fan-out and kept
    /// down longer than the nodes' leases: agents keep their connections, operators get 503 with
    /// a reason, nothing acknowledged is lost or run twice, and the nodes come back by themselves.
    @Suite("End to end: PostgreSQL restarted under two nodes", .serialized)
    struct DatabaseOutageTests {
        /// One operator request, with the answer's status, body and Retry-After.
        /// What the requests made while the database was away were answered.
        final class Answers: Sendable {
            let items = Mutex<[(node: String, what: String, answer: Answer)]>([])
            func add(_ node: String, _ what: String, _ answer: Answer) { items.withLock { $0.append((node, what, answer)) } }
            var all: [(node: String, what: String, answer: Answer)] { items.withLock { $0 } }
        }

        struct Answer: Sendable {
            var status: Int
            var body: String
            var retryAfter: String?
        }

        static func post(_ api: TestAPI, _ path: String, _ body: some Encodable) async throws -> Answer {
            guard let url = URL(string: api.base + path) else { throw E2EError("bad url \(path)") }
            var request = URLRequest(url: url, cachePolicy: .reloadIgnoringLocalCacheData, timeoutInterval: 120)
            request.httpMethod = "POST"
            request.setValue("Bearer \(api.token)", forHTTPHeaderField: "Authorization")
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
            request.httpBody = try APICoding.encoder().encode(body)
            let (data, response) = try await URLSession.shared.data(for: request)
            let http = response as? HTTPURLResponse
            return Answer(status: http?.statusCode ?? 0, body: String(decoding: data, as: UTF8.self),
                          retryAfter: http?.value(forHTTPHeaderField: "Retry-After"))
        }

        static func fanOut(_ command: String) -> RunRequest {
            RunRequest(agents: nil, all: true, command: command, script: nil, interpreter: nil, timeoutSeconds: 60, expiresSeconds: 120)
        }

        @Test("a restart longer than the lease: no agent reconnects, both nodes stay up, writes get 503 with a reason meanwhile, every accepted command ends once, run once")
        func restartUnderLoad() async throws {
            let postgres = try await PostgresTestServer.start()
            let url = try await postgres.createDatabase(prefix: "outage")
            let lease = ["--node-lease-seconds", "3"]
            let first = try await E2EServer.start(["--store", url, "--node-name", "n1"] + lease)
            var second: ManagedProcess?
            var sims: [ManagedProcess] = []
            let state = try freeTemporaryDirectory(prefix: "gururmm-outage")
            do {
                let joined = try await JoinedNode.start(joining: first, store: url, name: "n2", state: state, extra: lease)
                let node2 = joined.process
                second = node2
                let api1 = first.api
                let api2 = joined.api
                let node2URL = joined.agentURL

                // 10 agents prefer node 1, 10 prefer node 2.
                let agents = 20
                let token = try await api1.enrollToken(uses: agents)
                for (run, servers) in [[first.agentURL, node2URL], [node2URL, first.agentURL]].enumerated() {
                    let directory = state + "/sim-\(run)"
                    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
                    sims.append(try ManagedProcess.start(try gururmmBinary(), arguments: ["fleet-sim", "--agents", "\(agents / 2)", "--state-dir", directory,
                        "--max-backoff", "1", "--status-interval", "1", "--log-level", "notice", "--allow-plain", "--enroll-token", token, "--json"]
                        + servers.flatMap { ["--server", $0] }, logPath: directory + "/sim.log"))
                }
                try await waitUntil("\(agents) agents online", timeout: .seconds(60)) {
                    let views = try await api2.agents()
                    return views.count == agents && views.allSatisfy { $0.status == .online }
                }
                let warmup = try await api2.finish(try await api2.call("POST", "/api/v1/commands", body: Self.fanOut("true")), timeout: 60)
                #expect(warmup.count == agents && warmup.allSatisfy { $0.state == .succeeded })
                var accepted: [RunResponse] = []

                // A fan-out is posted on each node, then PostgreSQL stops under it: commands are in
                // every state, and the agents' acks and results arrive while the database is away.
                accepted.append(try await api1.call("POST", "/api/v1/commands", body: Self.fanOut("echo during-1")))
                accepted.append(try await api2.call("POST", "/api/v1/commands", body: Self.fanOut("echo during-2")))
                try await postgres.stop()
                let stoppedAt = ContinuousClock.now

                // While it is down (three leases and more), each node refuses operator writes with
                // 503, Retry-After and a reason naming the database; and both keep running. The
                // requests go out every 300 ms without waiting for each other: one that reached a
                // node before it saw the database go waits for its return, and then must hold.
                let answers = Answers()
                try await withThrowingTaskGroup(of: Void.self) { requests in
                    func refusedEverywhere() -> Bool {
                        Set(answers.all.filter { $0.answer.status == 503 }.map { $0.node + $0.what }).count == 4
                    }
                    while ContinuousClock.now - stoppedAt < .seconds(10) || !refusedEverywhere() {
                        if ContinuousClock.now - stoppedAt > .seconds(60) {
                            Issue.record("not every node refused both writes within a minute of the stop: \(answers.all)")
                            break
                        }
                        for (name, api) in [("n1", api1), ("n2", api2)] {
                            requests.addTask {
                                let answer = try await Self.post(api, "/api/v1/commands", Self.fanOut("echo refused"))
                                answers.add(name, "commands", answer)
                            }
                            requests.addTask {
                                let answer = try await Self.post(api, "/api/v1/enrollment-tokens", EnrollmentTokenRequest(expiresSeconds: 60, uses: 1))
                                answers.add(name, "tokens", answer)
                            }
                        }
                        #expect(first.process.isRunning && node2.isRunning, "a node stopped while the database was away")
                        try await Task.sleep(for: .milliseconds(300))
                    }
                    try await postgres.restart()
                    try await requests.waitForAll()
                }
                for (name, what, answer) in answers.all {
                    switch answer.status {
                    case 503:
                        #expect(answer.retryAfter != nil && answer.body.contains("database") && answer.body.contains("PostgreSQL"), "\(name): \(answer)")
                    case 201 where what == "commands":
                        // Accepted: it waited for the database (it reached the node before the node saw it go). It must run.
                        accepted.append(try APICoding.decoder().decode(RunResponse.self, from: Data(answer.body.utf8)))
                    case 201:
                        break
                    default:
                        Issue.record("\(name) answered \(what) with \(answer.status): \(answer.body)")
                    }
                }

                // The nodes find the database again by themselves: a new fan-out on each is accepted within a bounded time.
                for api in [api1, api2] {
                    let batch = Mutex<RunResponse?>(nil)
                    try await waitUntil("a fan-out accepted after the restart", timeout: .seconds(90)) {
                        let answer = try await Self.post(api, "/api/v1/commands", Self.fanOut("echo after"))
                        guard answer.status == 201 else { return false }
                        let created = try APICoding.decoder().decode(RunResponse.self, from: Data(answer.body.utf8))
                        batch.withLock { $0 = created }
                        return true
                    }
                    if let created = batch.withLock({ $0 }) { accepted.append(created) }
                }

                // Every accepted command ends once, succeeded.
                for batch in accepted {
                    let results = try await api2.finish(batch, timeout: 90)
                    #expect(results.count == agents)
                    #expect(results.allSatisfy { $0.state == .succeeded },
                            "\(results.filter { $0.state != .succeeded }.map { "\($0.agent ?? $0.agentId): \($0.state.rawValue) \($0.reason ?? "")" })")
                    for result in results {
                        let history = try await api2.command(result.id).events ?? []
                        #expect(history.filter { $0.state == CommandState.succeeded }.count == 1, "\(result.id): \(history.map { $0.state.rawValue })")
                    }
                }
                #expect(first.process.isRunning && node2.isRunning)

                // No agent reconnected (one welcome each), and each ran exactly the accepted commands
                // once: a refused request created nothing.
                var ran = 0
                for sim in sims {
                    #expect(try await sim.terminateAndWait(grace: .seconds(10)) == 0)
                    let summary = try #require(sim.logContents().split(separator: "\n").last { $0.contains("\"summary\"") })
                    let stats = try #require(try JSONSerialization.jsonObject(with: Data(summary.utf8)) as? [String: Any])["stats"] as? [String: Any]
                    #expect((stats?["welcomes"] as? Int) == agents / 2, "agents reconnected: \(summary)")
                    #expect((stats?["reconnects"] as? Int) == 0, "\(summary)")
                    // First copies only: a copy the agent recognised (a resend) counts as a duplicate, not here.
                    let received = (stats?["commands_received"] as? Int) ?? -1
                    let rejected = (stats?["rejected"] as? Int) ?? -1
                    ran += received - rejected
                }
                #expect(ran == agents * (accepted.count + 1), "each agent runs the warm-up and each accepted fan-out once")
            } catch {
                Issue.record("\(error)\n---- node 2 log (tail) ----\n\(second?.logExcerpt(tail: 6000) ?? "")\n---- node 1 log (tail) ----\n\(first.process.logExcerpt(tail: 6000))")
            }
            for sim in sims { _ = try? await sim.terminateAndWait(grace: .seconds(5)) }
            _ = try? await second?.terminateAndWait(grace: .seconds(5))
            await first.stop()
            try? await postgres.stop()
        }
    }
}
