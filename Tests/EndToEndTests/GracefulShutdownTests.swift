import Foundation
import RMMAPI
import RMMProtocol
import RMMTestSupport
import Testing

extension EndToEnd {
    /// The server's lifecycle: SIGTERM is a normal stop (its `ServiceGroup`'s graceful shutdown).
    @Suite("End to end: graceful shutdown", .serialized)
    struct GracefulShutdownTests {
        /// Log lines written at error level or above. `StreamLogHandler` writes
        /// "TIMESTAMP LEVEL LABEL: …", so the level is the second field.
        static func errorLines(_ log: String) -> [String] {
            log.split(separator: "\n").map(String.init).filter { line in
                let fields = line.split(separator: " ", maxSplits: 2)
                return fields.count >= 2 && (fields[1] == "error" || fields[1] == "critical")
            }
        }

        @Test("SIGTERM with an agent connected: exit 0 promptly, no error-level log line, the agent told 'server shutdown' and back after a restart")
        func sigtermIsANormalStop() async throws {
            try await withFleet(agents: ["steady"]) { server, agents in
                let agent = try #require(agents.first)
                let before = try #require(try await server.api.agent(named: "steady"))
                #expect(before.status == .online)

                server.process.signal(SIGTERM)
                let code = try await server.process.waitForExit(timeout: .seconds(15))
                let log = server.process.logContents()
                #expect(code == 0, "exit code \(code); log tail:\n\(log.suffix(4000))")
                #expect(Self.errorLines(log).isEmpty, "error-level lines: \(Self.errorLines(log))")
                #expect(log.contains("closing 1 agent session"), "log tail:\n\(log.suffix(4000))")
                #expect(log.contains("server stopped"))

                // The agent heard the going-away close meant for a shutdown, not a dropped connection.
                let shutdownCode = CloseCode.serverShutdown.rawValue
                let agentProcess = agent.process
                try await waitUntil("agent logs the server's shutdown close", timeout: .seconds(10)) {
                    agentProcess.logContents().contains("closed with \(shutdownCode)")
                }

                try await server.restartOnSamePorts()
                let api = server.api
                try await waitUntil("agent reconnects to the restarted server", timeout: .seconds(60)) {
                    guard let view = try await api.agent(named: "steady") else { return false }
                    return view.status == .online && view.epoch > before.epoch
                }
            }
        }

        @Test("SIGTERM with a batch summary long-poll and an events stream open: both answer with what they have, exit 0 in well under the 20 s cap")
        func sigtermEndsLongPolls() async throws {
            try await withFleet(agents: ["busy"]) { server, _ in
                let batch = try await server.api.run(["busy"], "sleep 120", expires: 300, timeout: 300)
                let client = try server.api.client
                let batchId = batch.batchId
                // Held by the server until the batch is done (two minutes away) or the server stops.
                let summary = Task { try await client.batchSummary(batchId, wait: 60, timeout: 90) }
                let (firstLine, sawLine) = AsyncStream<Void>.makeStream()
                let stream = Task { () -> [BatchStreamLine] in
                    defer { sawLine.finish() }
                    var received: [BatchStreamLine] = []
                    try await client.streamLines(
                        "/api/v1/batches/\(batchId)/events?after=0&wait=60", as: BatchStreamLine.self, idleTimeout: 90
                    ) { line in
                        received.append(line)
                        sawLine.yield()
                    }
                    return received
                }
                // The stream writes the batch's commands before it waits for changes: once they
                // are here it is waiting (and the summary, asked first, is too).
                var lineIterator = firstLine.makeAsyncIterator()
                try #require(await lineIterator.next() != nil, "the events stream wrote its first line")

                let (code, took, log) = try await server.process.sigtermAndWait(timeout: .seconds(30))
                #expect(code == 0, "exit code \(code); log tail:\n\(log.suffix(4000))")
                #expect(took < .seconds(10), "a stop with long-polls open took \(took)")
                #expect(Self.errorLines(log).isEmpty, "error-level lines: \(Self.errorLines(log))")

                let answered = try await summary.value
                #expect(!answered.done && answered.total == 1, "the summary as it was: \(answered)")
                let lines = try await stream.value
                let end = lines.compactMap(\.end).last
                #expect(end?.done == false, "the stream ended with its end line: \(lines.count) lines")
            }
        }

        /// Where the `sqlite3` shell is, if installed: the next test holds the database's lock with it.
        static let sqlite3: String? = ["/usr/bin/sqlite3", "/usr/local/bin/sqlite3", "/bin/sqlite3"].first {
            FileManager.default.isExecutableFile(atPath: $0)
        }

        @Test("SIGTERM while the store opens: a clean exit 0 before any service starts, no error-level log line")
        func sigtermWhileStarting() async throws {
            guard Self.sqlite3 != nil else {
                let why = "needs the sqlite3 shell to hold the database's lock (apt-get install sqlite3)"
                if ProcessInfo.processInfo.environment["GURURMM_REQUIRE_TOOLS"] == "1" { throw E2EError("GURURMM_REQUIRE_TOOLS=1: " + why) }
                try Test.cancel(Comment(rawValue: why))
            }
            // A data directory with a database in it.
            let first = try await E2EServer.start()
            first.process.signal(SIGTERM)
            #expect(try await first.process.waitForExit(timeout: .seconds(30)) == 0)

            // The sqlite3 shell, fed through a FIFO, holds the database exclusively: the next
            // start waits on it (up to its 10 s busy timeout) with its signal handling installed.
            let fifo = first.directory + "/lock.fifo"
            #expect(mkfifo(fifo, 0o600) == 0)
            let locker = try ManagedProcess.start("/bin/sh", arguments: [
                "-c", "exec \"$0\" \"$1\" < \"$2\"", try #require(Self.sqlite3), first.dataDirectory + "/gururmm.sqlite", fifo,
            ], logPath: first.directory + "/sqlite3.log")
            // Read-write, so opening does not wait for the reader (Linux).
            let descriptor = open(fifo, O_RDWR)
            try #require(descriptor >= 0)
            let feed = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
            try feed.write(contentsOf: Data("PRAGMA locking_mode=EXCLUSIVE;\nBEGIN EXCLUSIVE;\nSELECT 'locked';\n".utf8))
            try await waitUntil("sqlite3 holds the database") { locker.logContents().contains("locked") }

            let readyPath = first.dataDirectory + "/server.json"
            try? FileManager.default.removeItem(atPath: readyPath)
            let server = try ManagedProcess.start(try gururmmBinary(), arguments: [
                "server", "--data-dir", first.dataDirectory, "--plain",
                "--agent-listen", "127.0.0.1:0", "--api-listen", "127.0.0.1:0", "--log-level", "debug",
            ], logPath: first.directory + "/server-early.log")
            // SIGTERM's bit in the caught-signals mask: the server traps it now, before the store.
            try await waitUntil("the server traps SIGTERM") {
                let status = (try? String(contentsOfFile: "/proc/\(server.pid)/status", encoding: .utf8)) ?? ""
                let caught = status.split(separator: "\n").first { $0.hasPrefix("SigCgt:") }?.split(separator: "\t").last
                return caught.flatMap { UInt64($0, radix: 16) }.map { $0 & (1 << (UInt64(SIGTERM) - 1)) != 0 } ?? false
            }
            server.signal(SIGTERM)
            try await waitUntil("the server records the stop") { server.logContents().contains("received SIGTERM") }
            try feed.write(contentsOf: Data("COMMIT;\n.quit\n".utf8))
            try feed.close()

            let code = try await server.waitForExit(timeout: .seconds(30))
            let log = server.logContents()
            #expect(code == 0, "exit code \(code); log tail:\n\(log.suffix(4000))")
            #expect(log.contains("server stopped before it started serving"), "log tail:\n\(log.suffix(4000))")
            #expect(Self.errorLines(log).isEmpty, "error-level lines: \(Self.errorLines(log))")
            #expect(!FileManager.default.fileExists(atPath: readyPath), "no service ran, so no readiness report")
            _ = try? await locker.terminateAndWait(grace: .seconds(5))
        }

        @Test("the error-line filter reads the level field, not words in messages")
        func errorLineFilter() {
            let log = """
            2026-12-05T03:50:30+0000 info gururmm.server: [RMMServer] no error here
            2026-12-05T03:50:31+0000 error gururmm.server: [RMMServer] broken
            2026-12-05T03:50:32+0000 debug gururmm.server: [ServiceLifecycle] error
            """
            #expect(Self.errorLines(log).count == 1)
        }
    }
}
