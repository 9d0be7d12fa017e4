import Foundation
import RMMTestSupport
import Testing

extension EndToEnd {
    /// `gururmm bench --cluster` at tiny sizes: the harness starts its own PostgreSQL, nodes and
    /// simulators, runs every phase and writes the tables. The figures belong in BENCHMARKS.md.
    @Suite("End to end: cluster benchmark harness", .serialized)
    struct ClusterBenchHarnessTests {
        @Test("bench --cluster runs every phase at tiny N on its own PostgreSQL, writes the tables and leaves nothing running")
        func tinyRun() async throws {
            // Skips without PostgreSQL (fails under GURURMM_REQUIRE_TOOLS=1), as the other PostgreSQL tests do.
            _ = try await PostgresTestServer.shared()
            let directory = try freeTemporaryDirectory(prefix: "gururmm-cbench")
            // PostgreSQL runs as the postgres user when the tests run as root: it must enter the directory.
            #expect(chmod(directory, 0o755) == 0)
            let table = directory + "/table.md"
            let bench = try ManagedProcess.start(try gururmmBinary(), arguments: [
                "bench", "--cluster", "--configurations", "sqlite,2", "--agents", "20", "--fanout-repeats", "1", "--throughput-seconds", "1",
                "--round-trips", "10", "--idle-nodes", "2", "--idle-agents", "20", "--idle-seconds", "1", "--scale-agents", "30", "--scale-seconds", "1",
                "--failover-nodes", "2", "--failover-agents", "10", "--failover-timeout", "60", "--per-simulator", "15",
                "--work-dir", directory + "/work", "--out", table,
            ], logPath: directory + "/bench.log")
            let code = try await bench.waitForExit(timeout: .seconds(300))
            try #require(code == 0, "bench --cluster failed:\n\(bench.logContents().suffix(4000))")
            let text = try String(contentsOfFile: table, encoding: .utf8)
            let rows = text.split(separator: "\n").map(String.init)
            func row(_ start: String) -> String { rows.first { $0.hasPrefix("| " + start) } ?? "" }
            #expect(text.contains("fsync = on, synchronous_commit = on"), "\(text)")
            // Fan-out: both configurations, every command succeeded, the PostgreSQL row compared with SQLite's.
            #expect(row("SQLite, 1 node").contains("| 0 of 20 in fan-outs, 0 of "), "\(text)")
            let postgres = row("PostgreSQL, 2 nodes")
            #expect(postgres.contains("| 0 of 20 in fan-outs, 0 of ") && postgres.contains("×") && !postgres.contains("| ? |"), "\(text)")
            // Round trips: same-node and cross-node, with a verdict on the cross-node p99.
            #expect(row("same node").contains("| 10 |") && row("cross-node").contains("| 10 |"), "\(text)")
            #expect(row("cross-node").hasSuffix("| met |") || row("cross-node").contains("**missed** by"), "\(text)")
            // Idle and scale: a row per node, PostgreSQL and the simulators.
            #expect(rows.filter { $0.hasPrefix("| idle: 20 agents") }.count == 4 && rows.filter { $0.hasPrefix("| scale: 30 agents") }.count == 5, "\(text)")
            // Failover: the timeline, and nothing lost or doubled.
            #expect(row("all 10 agents reconnected").contains(" s |") && !row("all 10 agents reconnected").contains("not seen"), "\(text)")
            #expect(row("outcome").contains("10/10 succeeded; agents ran 10 (once each)") && row("outcome").hasSuffix("| met |"), "\(text)")
            // Where the time goes: PostgreSQL's CPU is read for every PostgreSQL phase.
            let lines = text.components(separatedBy: "\n")
            let spentHeader = lines.firstIndex { $0.contains("| where the time goes") } ?? lines.count
            let spent = lines.dropFirst(spentHeader + 2).prefix { $0.hasPrefix("| ") }
            #expect(spent.count == 9, "\(text)")
            for line in spent where !line.contains("SQLite") {
                let columns = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
                #expect(columns.count == 6 && columns[3].hasSuffix(" s"), "PostgreSQL's CPU in: \(line)")
            }
            // And in PostgreSQL, per statement: the throughput's commits, WAL flushes and costliest statements.
            let profileHeader = lines.firstIndex { $0.hasPrefix("| throughput, PostgreSQL, 2 nodes: database work per command") } ?? lines.count
            let profile = Array(lines.dropFirst(profileHeader + 2).prefix { $0.hasPrefix("| ") })
            #expect(profile.first?.hasPrefix("| all statements |") == true && profile.contains { $0.hasPrefix("| commits (xact_commit) |") }, "\(text)")
            #expect(profile.contains { $0.hasPrefix("| `") && $0.contains("commands") }, "a statement on commands among the costliest: \(text)")
            // Nothing of this run is left running: nodes, simulators, PostgreSQL.
            let running = try FileManager.default.contentsOfDirectory(atPath: "/proc").compactMap(Int32.init).filter { pid in
                ((try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8)) ?? "").contains(directory + "/work")
            }
            #expect(running.isEmpty, "left running: \(running)")
        }
    }
}
