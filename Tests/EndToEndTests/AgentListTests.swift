import Foundation
import RMMAPI
import RMMProtocol
import RMMServer
import RMMStore
import RMMTestSupport
import Testing

extension EndToEnd {
    /// `GET /agents` is written a page of agents at a time, each page's verdicts read in one query:
    /// the array must still hold every agent once, in name order, each with its own newest verdict.
    @Suite("End to end: agent list", .serialized)
    struct AgentListTests {
        @Test("the agent list spans several store pages and gives every agent its own newest verdict")
        func listAcrossPagesCarriesEachAgentsLatestVerdict() async throws {
            let count = 1_037  // two full pages of 500 and part of a third
            let server = try await E2EServer.start()
            do {
                await server.stop()
                let store = try SQLiteStore(path: server.dataDirectory + "/gururmm.sqlite")
                _ = try await store.createEnrollmentToken(hash: "bulk", expiresAt: nil, uses: count, now: Date())
                let t0 = Date(timeIntervalSince1970: 1_750_000_000)
                var expected: [String: LinkVerdict] = [:]
                for index in 0..<count {
                    let name = String(format: "list-%05d", (index * 7919) % count)
                    let agent = try await store.enrollAgent(tokenHash: "bulk", publicKey: "key-\(index)",
                                                            facts: AgentFacts(name: name, hostname: name, os: "linux", version: "1"), now: t0)
                    guard index % 3 != 0 else { continue }
                    let kinds: [LinkVerdict] = index % 2 == 0 ? [.pathFiltersData, .healthy] : [.healthy, .halfOpen]
                    for (offset, kind) in kinds.enumerated() {
                        let at = t0.addingTimeInterval(Double(index * 10 + offset))
                        _ = try await store.recordVerdict(VerdictRecord(agentId: agent.id, verdict: kind, source: .serverProbe, stage: .session,
                                                                        summary: "\(name) \(kind.rawValue)", evidence: Data("{}".utf8), firstAt: at),
                                                          keep: VerdictRecord.keptPerAgent)
                    }
                    expected[name] = kinds.last
                }
                try await server.restartOnSamePorts()

                let agents = try await server.api.agents()
                #expect(agents.count == count)
                #expect(agents.map(\.name) == agents.map(\.name).sorted(), "in name order")
                #expect(Set(agents.map(\.id)).count == count, "each agent once")
                var wrong: [String] = []
                for agent in agents where agent.verdict?.verdict != expected[agent.name]
                    || (agent.verdict.map { $0.summary != "\(agent.name) \($0.verdict.rawValue)" } ?? false) {
                    wrong.append("\(agent.name): \(String(describing: agent.verdict?.verdict)) (\(agent.verdict?.summary ?? "-"))")
                }
                #expect(wrong.isEmpty, "\(wrong.prefix(5))")
                // The one-agent route agrees with the list.
                let sample = try #require(agents.first { expected[$0.name] != nil })
                let single: AgentView = try await server.api.call("GET", "/api/v1/agents/\(sample.id)")
                #expect(single.verdict == sample.verdict)
            } catch {
                Issue.record("\(error)")
            }
            await server.stop()
        }

        @Test("24,000 agents (about 20 MiB of JSON) are listed with the server's peak memory bounded by a page, not the list")
        func listStreamsInBoundedMemory() async throws {
            // Long host names make each view about 850 bytes, as a real agent's metrics would.
            let count = 24_000
            let padding = String(repeating: "h", count: 420), os = String(repeating: "o", count: 200)
            let server = try await E2EServer.start()
            do {
                await server.stop()
                let store = try SQLiteStore(path: server.dataDirectory + "/gururmm.sqlite")
                _ = try await store.createEnrollmentToken(hash: "bulk", expiresAt: nil, uses: count, now: Date())
                for index in 0..<count {
                    let name = String(format: "many-%05d", index)
                    _ = try await store.enrollAgent(tokenHash: "bulk", publicKey: "key-\(index)",
                                                    facts: AgentFacts(name: name, hostname: name + padding, os: os, version: "1"), now: Date())
                }
                try await server.restartOnSamePorts()
                let measure = OperatorPathTests()
                let pid = server.process.pid
                // A first answer warms the store's page cache and the allocator; the second is measured.
                _ = try await measure.countBody(port: server.apiPort, path: "/api/v1/agents", token: server.token)
                let measured = measure.resetPeak(pid)
                let before = try #require(measure.memory(pid))
                let (status, bytes) = try await measure.countBody(port: server.apiPort, path: "/api/v1/agents", token: server.token)
                let after = try #require(measure.memory(pid))
                let grown = after.peak - before.resident
                #expect(status == 200)
                #expect(bytes > 16 << 20, "\(bytes) bytes for \(count) agents")
                // Gathering the list would hold every view and its whole encoding (well over 16 MiB).
                if measured { #expect(grown < 16 << 20, "peak RSS grew \(grown >> 20) MiB serving \(bytes >> 20) MiB") }
                print("agent list: peak RSS grew \(grown >> 20) MiB serving \(bytes >> 20) MiB for \(count) agents (RSS before \(before.resident >> 20) MiB)")
            } catch {
                Issue.record("\(error)")
            }
            await server.stop()
        }
    }
}
