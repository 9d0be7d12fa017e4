import Foundation
import RMMTestSupport
import Testing

extension EndToEnd {
    /// `gururmm bench` at a small size: the harness starts its own server and simulators, runs every
    /// measurement and writes the table. The figures themselves belong in BENCHMARKS.md, not in tests.
    @Suite("End to end: benchmark harness", .serialized)
    struct BenchHarnessTests {
        @Test("bench runs every measurement at small N and writes the table")
        func smallRun() async throws {
            let directory = try freeTemporaryDirectory(prefix: "gururmm-bench")
            let table = directory + "/table.md"
            let bench = try ManagedProcess.start(try gururmmBinary(), arguments: [
                "bench", "--sizes", "20,40", "--round-trips", "20", "--throughput-seconds", "2", "--idle-seconds", "1",
                "--storm-size", "40", "--work-dir", directory + "/work", "--out", table, "--compare-cli", try gururmmBinary(),
            ], logPath: directory + "/bench.log")
            let code = try await bench.waitForExit(timeout: .seconds(240))
            let log = bench.logContents()
            try #require(code == 0, "bench failed:\n\(log.suffix(4000))")
            let text = try String(contentsOfFile: table, encoding: .utf8)
            for row in ["command round trip", "bare WebSocket text echo", "fdatasync", "fan-out to 20 agents", "fan-out to 40 agents",
                        "sustained throughput", "server memory per agent", "server CPU", "reconnect storm",
                        "operator path: a `gururmm run --all -- true` process, 20 agents", "operator path: a `gururmm run --all -- true` process, 40 agents"] {
                #expect(text.contains(row), "the table has a '\(row)' row:\n\(text)")
            }
            #expect(text.contains("20/20 succeeded") && text.contains("40/40 succeeded"), "every fan-out command succeeded:\n\(text)")
            let throughput = text.split(separator: "\n").first { $0.contains("sustained throughput") }.map(String.init) ?? ""
            #expect(throughput.contains("CPU per command: server ") && throughput.contains(" µs, simulators "), "\(throughput)")
            // Every verdict says met, or missed and by how much; the larger fan-out's says whether it stayed linear.
            let outcome = #"(met|\*\*missed\*\* by [0-9]+\.[0-9]×)"#
            let verdictShape = try Regex(#"^(—|p50 \#(outcome), p99 \#(outcome)|\#(outcome)|(\#(outcome); )?linear: \#(outcome) \(per 1k [0-9.]+× the 20-agent fan-out's\)|\*\*missed\*\*: .+)$"#)
            for row in text.split(separator: "\n") where row.hasPrefix("| ") && !row.hasPrefix("| #") {
                let verdict = row.split(separator: "|").last.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
                #expect(verdict.wholeMatch(of: verdictShape) != nil, "verdict '\(verdict)' in: \(row)")
            }
            // The operator's path: both CLIs ran to the end (exit 0) beside the API-level fan-out.
            for row in text.split(separator: "\n") where row.contains("operator path:") {
                #expect(row.contains("(exit 0), API fan-out ") && row.contains("the CLI adds ") && row.contains("compared CLI ") && !row.contains("(exit -1)"), "\(row)")
            }
            let larger = text.split(separator: "\n").first { $0.contains("fan-out to 40 agents") }.map(String.init) ?? ""
            #expect(larger.contains("linear: ") && larger.contains("× the 20-agent fan-out's)"), "\(larger)")
            let storm = text.split(separator: "\n").first { $0.contains("reconnect storm") }.map(String.init) ?? ""
            #expect(storm.contains("40/40 succeeded"), "the storm lost nothing: \(storm)")
            // The harness stops what it started: no process of this run still uses its work directory.
            let running = try FileManager.default.contentsOfDirectory(atPath: "/proc").compactMap(Int32.init).filter { pid in
                let command = (try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8)) ?? ""
                return command.contains(directory + "/work")
            }
            #expect(running.isEmpty, "left running: \(running)")

            // The same work directory again: refused at once, before anything starts (its agents
            // and simulator identities would join the new fleet).
            let again = try ManagedProcess.start(try gururmmBinary(), arguments: [
                "bench", "--sizes", "20", "--work-dir", directory + "/work",
            ], logPath: directory + "/again.log")
            #expect(try await again.waitForExit(timeout: .seconds(30)) != 0)
            #expect(again.logContents().contains("is not empty"), "\(again.logContents().suffix(2000))")
        }

        @Test("bench --unauthenticated holds idle sockets of both kinds, with the cap raised and at its default, and writes the table")
        func unauthenticatedRun() async throws {
            let directory = try freeTemporaryDirectory(prefix: "gururmm-bench-unauth")
            let table = directory + "/table.md"
            let bench = try ManagedProcess.start(try gururmmBinary(), arguments: [
                "bench", "--unauthenticated", "40", "--unauthenticated-hold", "0", "--unauthenticated-settle", "0",
                "--work-dir", directory + "/work", "--out", table,
            ], logPath: directory + "/bench.log")
            let code = try await bench.waitForExit(timeout: .seconds(180))
            try #require(code == 0, "bench failed:\n\(bench.logContents().suffix(4000))")
            let text = try String(contentsOfFile: table, encoding: .utf8)
            let rows = text.split(separator: "\n").filter { $0.hasPrefix("| 40 ") }
            #expect(rows.count == 4, "\(text)")
            for (row, kind) in zip(rows, ["idle TCP", "upgraded, silent WebSocket", "idle TCP", "upgraded, silent WebSocket"]) {
                #expect(row.contains(kind) && row.contains("| 40 | 0 |"), "all 40 held, none refused: \(row)")
                #expect(row.contains(" MiB | ") && row.contains(" KiB | "), "\(row)")
            }
            #expect(rows.prefix(2).allSatisfy { $0.contains("80 (raised)") } && rows.suffix(2).allSatisfy { $0.contains("4096 (default)") }, "\(text)")
        }

        @Test("bench --console logs in, times the fleet page, holds console streams over the idle window and writes the table")
        func consoleRun() async throws {
            let directory = try freeTemporaryDirectory(prefix: "gururmm-bench-console")
            let table = directory + "/table.md"
            let bench = try ManagedProcess.start(try gururmmBinary(), arguments: [
                "bench", "--console", "--no-chromium", "--agents", "30", "--consoles", "2", "--page-loads", "3", "--console-seconds", "11",
                "--work-dir", directory + "/work", "--out", table,
            ], logPath: directory + "/bench.log")
            let code = try await bench.waitForExit(timeout: .seconds(180))
            try #require(code == 0, "bench failed:\n\(bench.logContents().suffix(4000))")
            let text = try String(contentsOfFile: table, encoding: .utf8)
            let firstByte = text.split(separator: "\n").first { $0.hasPrefix("| first byte of the body |") }.map(String.init) ?? ""
            #expect(firstByte.hasSuffix(" bytes | 30 |"), "all 30 agents are rows: \(text)")
            #expect(text.contains("Chromium: **skipped** (--no-chromium)"), "\(text)")
            let open = text.split(separator: "\n").first { $0.hasPrefix("| 2 consoles |") }.map(String.init) ?? ""
            let cells = open.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            let streamed = cells.count > 4 ? Int(cells[4].replacingOccurrences(of: ",", with: "")) ?? 0 : 0
            // A quiet stream sends a keep-alive every 5 reads (10 s): an 11 s window holds at least one.
            #expect(streamed > 0, "the streams received keep-alives or events during the window: \(text)")
            #expect(text.contains("| 0 consoles |") && text.contains("| 2 ÷ 0 consoles |"), "\(text)")
        }

        @Test("bench --console --chromium loads the fleet page in headless Chromium and times its first row")
        func consoleRunInChromium() async throws {
            let tools = try BrowserTools.require()
            let directory = try freeTemporaryDirectory(prefix: "gururmm-bench-chromium")
            let table = directory + "/table.md"
            let bench = try ManagedProcess.start(try gururmmBinary(), arguments: [
                "bench", "--console", "--chromium", "--agents", "30", "--consoles", "1", "--page-loads", "3", "--console-seconds", "1",
                "--work-dir", directory + "/work", "--out", table,
            ], environment: ["CHROMIUM": tools.chromium, "CHROMEDRIVER": tools.chromedriver], logPath: directory + "/bench.log")
            let code = try await bench.waitForExit(timeout: .seconds(180))
            try #require(code == 0, "bench failed:\n\(bench.logContents().suffix(4000))")
            let text = try String(contentsOfFile: table, encoding: .utf8)
            #expect(text.contains("| fleet page in headless Chromium (3 loads, one session)"), "\(text)")
            #expect(text.contains("| first agent row in the DOM |"), "the row observer ran before the page's scripts: \(text)")
            #expect(text.contains("30 rows of 30 agents"), "\(text)")
            let firstRow = text.split(separator: "\n").first { $0.hasPrefix("| first agent row in the DOM |") }.map(String.init) ?? ""
            #expect(firstRow.hasSuffix("p95 < 1 s: met |"), "30 rows on loopback are well within a second: \(text)")
            try await waitUntil("the bench ended the browser it started", timeout: .seconds(10)) {
                !Browser.processes(naming: directory).contains { $0 != getpid() }
            }
        }
    }
}
