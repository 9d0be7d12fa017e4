import Foundation
import RMMTestSupport
import Testing

extension EndToEnd {
    /// What `gururmm run` and `gururmm agents --watch` draw on a real terminal (a pseudo-terminal
    /// the test reads), and that nothing of it reaches a pipe or JSON.
    @Suite("End to end: terminal display", .serialized)
    struct TerminalDisplayTests {
        static let erase = "\r\u{1B}[2K"

        @Test("run on a terminal rewrites its progress in place and erases it before the results; through a pipe or with --json there is none")
        func runProgress() async throws {
            try await withFleet(agents: ["tty-a", "tty-b"]) { server, _ in
                let run = ["run", "--data-dir", server.dataDirectory, "--all", "--", "echo begun; sleep 1; echo finished"]
                let terminal = try TerminalProcess.start(try gururmmBinary(), arguments: run)
                let code = try await terminal.waitForExit()
                let text = terminal.text
                #expect(code == 0, "\(text)")
                #expect(text.contains(Self.erase + "0/2 delivered · 0 done · 0 failed") || text.contains(Self.erase + "2/2 delivered · 0 done"),
                        "the progress is drawn in place: \(text.debugDescription)")
                let last = try #require(text.range(of: "delivered · ", options: .backwards), "\(text.debugDescription)")
                let summary = try #require(text.range(of: "--- 2/2 succeeded"), "\(text.debugDescription)")
                #expect(last.upperBound < summary.lowerBound, "no progress after the results")
                let tail = String(text[last.upperBound..<summary.lowerBound])
                #expect(tail.contains(Self.erase), "the line is erased before the summary: \(tail.debugDescription)")
                #expect(text.contains("[tty-a] finished") && text.contains("[tty-b] finished"), "\(text.debugDescription)")
                // Output lines start on a clean line: each is preceded by the erase, never by progress text.
                for line in ["[tty-a] finished", "[tty-b] finished"] {
                    let at = try #require(text.range(of: line))
                    #expect(text[..<at.lowerBound].hasSuffix(Self.erase) || text[..<at.lowerBound].hasSuffix("\r\n"), "\(text.debugDescription)")
                }

                let piped = try await pipedCLI(run)
                #expect(piped.code == 0, "\(piped.output)")
                #expect(piped.output.contains("[tty-a] finished") && piped.output.contains("--- 2/2 succeeded"), "\(piped.output)")
                #expect(!piped.output.contains("delivered ·") && !piped.output.contains("\r") && !piped.output.contains("\u{1B}"), "\(piped.output.debugDescription)")

                let json = try TerminalProcess.start(try gururmmBinary(), arguments: ["run", "--data-dir", server.dataDirectory, "--all", "--json", "--", "echo hi"])
                #expect(try await json.waitForExit() == 0, "\(json.text)")
                #expect(json.text.contains("\"stdout\" : \"hi\\n\""), "\(json.text)")
                #expect(!json.text.contains("delivered ·") && !json.text.contains("\u{1B}"), "\(json.text.debugDescription)")
            }
        }

        @Test("Ctrl-C during run's progress leaves the terminal on a clean line")
        func runInterrupted() async throws {
            try await withFleet(agents: ["tty-slow"]) { server, _ in
                let terminal = try TerminalProcess.start(try gururmmBinary(), arguments: ["run", "--data-dir", server.dataDirectory, "--all", "--", "sleep 20"])
                try await waitUntil("progress drawn", timeout: .seconds(30)) { terminal.text.contains("1/1 delivered · 0 done") }
                terminal.type([0x03])
                let code = try await terminal.waitForExit(timeout: .seconds(10))
                let text = terminal.text
                #expect(code == 130, "\(text.debugDescription)")
                let last = try #require(text.range(of: "delivered · ", options: .backwards))
                let tail = text[last.upperBound...]
                #expect(tail.contains(Self.erase), "the line is erased: \(text.debugDescription)")
                #expect(tail.hasSuffix(Self.erase), "nothing is left after the erase: \(tail.debugDescription)")
            }
        }

        @Test("agents --watch redraws in place on a terminal and ends cleanly on Ctrl-C; through a pipe each refresh is a plain table under its time")
        func agentsWatch() async throws {
            try await withFleet(agents: ["watched"]) { server, _ in
                let watch = ["agents", "--data-dir", server.dataDirectory, "--watch", "--interval", "0.5"]
                let terminal = try TerminalProcess.start(try gururmmBinary(), arguments: watch)
                try await waitUntil("two refreshes on the terminal", timeout: .seconds(30)) {
                    terminal.text.components(separatedBy: "\u{1B}[H").count > 2
                }
                terminal.type([0x03])
                #expect(try await terminal.waitForExit(timeout: .seconds(10)) == 0, "\(terminal.text.debugDescription)")
                let text = terminal.text
                #expect(text.hasPrefix("\u{1B}[?25l\u{1B}[H\u{1B}[2J"), "\(text.debugDescription)")
                let frames = text.components(separatedBy: "\u{1B}[H").dropFirst()
                #expect(frames.filter { $0.contains("watched") && $0.contains("online") }.count >= 2, "\(text.debugDescription)")
                #expect(text.hasSuffix("\u{1B}[?25h"), "the cursor is shown again: \(text.debugDescription)")

                let piped = try PipedCLI.start(watch)
                try await waitUntil("two plain refreshes", timeout: .seconds(30)) {
                    piped.process.logContents().components(separatedBy: "--- 20").count > 2
                }
                kill(-piped.process.pid, SIGINT)
                #expect(try await piped.process.waitForExit(timeout: .seconds(10)) == 0, "\(piped.process.logContents())")
                let output = piped.process.logContents()
                #expect(!output.contains("\u{1B}") && !output.contains("\r"), "\(output.debugDescription)")
                let blocks = output.components(separatedBy: "--- 20").dropFirst()
                #expect(blocks.count >= 2)
                for block in blocks {
                    #expect(block.range(of: #"^\d\d-\d\d-\d\dT\d\d:\d\d:\d\dZ ---\nID +NAME"#, options: .regularExpression) != nil, "\(block)")
                    #expect(block.contains("watched"), "\(block)")
                }
            }
        }

        /// Runs the CLI with its standard output and error through a pipe (`| cat`) and waits for it.
        func pipedCLI(_ arguments: [String]) async throws -> (code: Int32, output: String) {
            let piped = try PipedCLI.start(arguments)
            let code = try await piped.process.waitForExit(timeout: .seconds(60))
            return (code, piped.process.logContents())
        }
    }
}

/// `gururmm` with its output piped through `cat` into a log; SIGINT sent to the whole group
/// reaches only gururmm (the shell and cat ignore it), and the exit status is gururmm's.
struct PipedCLI {
    let process: ManagedProcess

    static func start(_ arguments: [String]) throws -> PipedCLI {
        let directory = try freeTemporaryDirectory(prefix: "gururmm-piped")
        let script = #"trap "" INT; set -o pipefail; "$0" "$@" 2>&1 | cat"#
        return PipedCLI(process: try ManagedProcess.start("/bin/bash", arguments: ["-c", script, try gururmmBinary()] + arguments,
                                                           logPath: directory + "/output.log"))
    }
}
