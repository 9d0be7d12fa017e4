import Foundation
import RMMProtocol
import Testing
#if canImport(RMMAgentExecution)
@testable import RMMAgentExecution
#else
@testable import RMMAgent
#endif

@Suite struct CommandExecutorTests {
    @Test func echoStreamsOutputAndSucceeds() async throws {
        let executor = CommandExecutor(limits: ExecutorLimits())
        let log = ExecutionEventLog.watching(executor)
        #expect(await executor.submit(shellSpec("echo", "echo hello")) == .accepted)
        let result = try #require(await log.result("echo"))
        #expect(result.status == .succeeded)
        #expect(result.exitCode == 0)
        #expect(utf8Text(result.stdout) == "hello\n")
        #expect(result.stderr.isEmpty)
        #expect(result.startedAt != nil)
        let events = await log.events(of: "echo")
        guard case .started(_, let pid, _) = events.first else {
            Issue.record("first event is not started: \(events)")
            return
        }
        #expect((pid ?? 0) > 0)
        let streamed = events.compactMap { event -> Data? in
            if case .output(let output) = event, output.stream == .stdout { return output.data }
            return nil
        }
        #expect(utf8Text(streamed.reduce(Data(), +)) == "hello\n")
        #expect(await executor.runningCount == 0)
    }

    @Test func eachCommandLeadsItsOwnProcessGroup() async throws {
        let executor = CommandExecutor(limits: ExecutorLimits())
        let log = ExecutionEventLog.watching(executor)
        // Field 5 of /proc/<pid>/stat is the process group id ("sh" has no spaces in its name).
        _ = await executor.submit(shellSpec("group", "echo $$ $(cut -d' ' -f5 /proc/$$/stat)"))
        let result = try #require(await log.result("group"))
        let fields = utf8Text(result.stdout).split(whereSeparator: \.isWhitespace)
        #expect(fields.count == 2)
        #expect(fields.first == fields.last)
        #expect(fields.first.flatMap { Int32($0) } != getpgrp())
    }

    @Test func commandPastItsValidityIsNotStarted() async throws {
        let executor = CommandExecutor(limits: ExecutorLimits(maxConcurrent: 1))
        let log = ExecutionEventLog.watching(executor)
        _ = await executor.submit(shellSpec("hold", "sleep 60"))
        var stale = shellSpec("stale", "echo should-not-run")
        stale.expiresAt = Int(Date().timeIntervalSince1970 - WorkLimits.clockSkewSeconds) - 1
        #expect(await executor.submit(stale) == .accepted)
        await executor.cancel(commandId: "hold", reason: "free the slot")
        let result = try #require(await log.result("stale"))
        #expect(result.status == .rejected)
        #expect(result.reason?.contains("signed start deadline") == true)
        #expect(await log.events(of: "stale").count == 1)
    }

    @Test func nonzeroExitFails() async throws {
        let executor = CommandExecutor(limits: ExecutorLimits())
        let log = ExecutionEventLog.watching(executor)
        _ = await executor.submit(shellSpec("exit3", "exit 3"))
        let result = try #require(await log.result("exit3"))
        #expect(result.status == .failed)
        #expect(result.exitCode == 3)
        #expect(result.signal == nil)
    }

    @Test func killedBySignalFailsWithSignal() async throws {
        let executor = CommandExecutor(limits: ExecutorLimits())
        let log = ExecutionEventLog.watching(executor)
        _ = await executor.submit(shellSpec("sig", "kill -9 $$"))
        let result = try #require(await log.result("sig"))
        #expect(result.status == .failed)
        #expect(result.signal == 9)
        #expect(result.exitCode == nil)
    }

    @Test func stderrIsSeparate() async throws {
        let executor = CommandExecutor(limits: ExecutorLimits())
        let log = ExecutionEventLog.watching(executor)
        _ = await executor.submit(shellSpec("both", "echo out; echo err >&2"))
        let result = try #require(await log.result("both"))
        #expect(utf8Text(result.stdout) == "out\n")
        #expect(utf8Text(result.stderr) == "err\n")
        let stderrChunks = await log.events(of: "both").compactMap { event -> CommandOutput? in
            if case .output(let output) = event, output.stream == .stderr { return output }
            return nil
        }
        #expect(stderrChunks.first?.offset == 0)
        #expect(utf8Text(stderrChunks.map(\.data).reduce(Data(), +)) == "err\n")
    }

    @Test func environmentIsAdded() async throws {
        let executor = CommandExecutor(limits: ExecutorLimits(environment: ["RMM_TEST_VALUE": "forty two"]))
        let log = ExecutionEventLog.watching(executor)
        _ = await executor.submit(shellSpec("env", "echo \"$RMM_TEST_VALUE\"; test -n \"$PATH\" && echo inherited"))
        let result = try #require(await log.result("env"))
        #expect(utf8Text(result.stdout) == "forty two\ninherited\n")
    }

    @Test func oneMebibyteScriptRunsAndItsFileIsRemoved() async throws {
        let executor = CommandExecutor(limits: ExecutorLimits())
        let log = ExecutionEventLog.watching(executor)
        let filler = String(repeating: "# " + String(repeating: "x", count: 1021) + "\n", count: 1024)
        let body = "echo \"$0\"\n" + filler + "echo done\n"
        #expect(body.utf8.count > 1 << 20)
        _ = await executor.submit(CommandSpec(commandId: "big", kind: .script, text: body, timeoutSeconds: 30, expiresAt: Int(Date().timeIntervalSince1970) + 60))
        let result = try #require(await log.result("big"))
        #expect(result.status == .succeeded)
        let lines = utf8Text(result.stdout).split(separator: "\n")
        #expect(lines.last == "done")
        let path = try #require(lines.first.map(String.init))
        #expect(!FileManager.default.fileExists(atPath: path))
        #expect(!FileManager.default.fileExists(atPath: (path as NSString).deletingLastPathComponent))
    }

    @Test func scriptUsesTheNamedInterpreter() async throws {
        let executor = CommandExecutor(limits: ExecutorLimits())
        let log = ExecutionEventLog.watching(executor)
        _ = await executor.submit(CommandSpec(commandId: "sh", kind: .script, text: "echo from-sh\n", interpreter: "/bin/sh", timeoutSeconds: 30, expiresAt: Int(Date().timeIntervalSince1970) + 60))
        // cat as the "interpreter" prints the file it is given: proof that the body went to a file passed as the argument.
        _ = await executor.submit(CommandSpec(commandId: "cat", kind: .script, text: "line one\nline two\n", interpreter: "/bin/cat", timeoutSeconds: 30, expiresAt: Int(Date().timeIntervalSince1970) + 60))
        #expect(utf8Text(try #require(await log.result("sh")).stdout) == "from-sh\n")
        #expect(utf8Text(try #require(await log.result("cat")).stdout) == "line one\nline two\n")
    }

    @Test func longShellCommandLineRuns() async throws {
        let executor = CommandExecutor(limits: ExecutorLimits())
        let log = ExecutionEventLog.watching(executor)
        // Over Linux's 128 KiB single-argument limit.
        let line = "x=" + String(repeating: "y", count: 200_000) + "; echo ${#x}"
        _ = await executor.submit(shellSpec("long", line))
        let result = try #require(await log.result("long"))
        #expect(result.status == .succeeded)
        #expect(utf8Text(result.stdout) == "200000\n")
    }

    @Test func spawnFailureFailsWithReason() async throws {
        let executor = CommandExecutor(limits: ExecutorLimits())
        let log = ExecutionEventLog.watching(executor)
        _ = await executor.submit(CommandSpec(commandId: "nope", kind: .script, text: "true", interpreter: "/nonexistent/interpreter", timeoutSeconds: 30, expiresAt: Int(Date().timeIntervalSince1970) + 60))
        let result = try #require(await log.result("nope"))
        #expect(result.status == .failed)
        #expect(result.reason?.contains("could not start") == true)
        #expect(await log.events(of: "nope").count == 1)
    }

    @Test func outputBeyondTheCapIsTruncatedAndFlagged() async throws {
        let executor = CommandExecutor(limits: ExecutorLimits(outputCapBytes: 1000, outputChunkBytes: 100))
        let log = ExecutionEventLog.watching(executor)
        _ = await executor.submit(shellSpec("flood", "head -c 50000 /dev/zero | tr '\\0' a; echo small >&2"))
        let result = try #require(await log.result("flood"))
        #expect(result.status == .succeeded)
        #expect(result.stdout.count == 1000)
        #expect(result.stdoutTruncated)
        #expect(utf8Text(result.stderr) == "small\n")
        #expect(!result.stderrTruncated)
        let chunks = await log.events(of: "flood").compactMap { event -> CommandOutput? in
            if case .output(let output) = event, output.stream == .stdout { return output }
            return nil
        }
        var expectedOffset = 0
        for chunk in chunks {
            #expect(chunk.offset == expectedOffset)
            #expect(chunk.data.count <= 100)
            expectedOffset += chunk.data.count
        }
        #expect(expectedOffset == 1000)
    }

    @Test func timeoutKillsTheWholeGroupIncludingAGrandchild() async throws {
        let executor = CommandExecutor(limits: ExecutorLimits())
        let log = ExecutionEventLog.watching(executor)
        let clock = ContinuousClock()
        let start = clock.now
        _ = await executor.submit(shellSpec("slow", "sleep 60 & echo $!; sleep 60", timeout: 1))
        let result = try #require(await log.result("slow"))
        // Not a speed check (those live in benchmarks): only well under the 60 s the sleeps would
        // take, which proves the timeout ended the command rather than the sleeps finishing.
        #expect(start.duration(to: clock.now) < .seconds(45))
        #expect(result.status == .timedOut)
        #expect(result.reason == "timed out after 1 s; process group killed")
        let grandchild = try #require(Int32(utf8Text(result.stdout).trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(await eventuallyTrue { processIsGone(grandchild) })
    }

    @Test func timeoutEscalatesToSigkillWhenTermIsIgnored() async throws {
        let executor = CommandExecutor(limits: ExecutorLimits())
        let log = ExecutionEventLog.watching(executor)
        _ = await executor.submit(shellSpec("stubborn", "trap '' TERM; sh -c 'trap \"\" TERM; sleep 60' & echo $!; sleep 60", timeout: 1))
        let result = try #require(await log.result("stubborn", upTo: .seconds(20)))
        #expect(result.status == .timedOut)
        #expect(result.signal == 9)
        let grandchild = try #require(Int32(utf8Text(result.stdout).trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(await eventuallyTrue { processIsGone(grandchild) })
    }

    @Test func grandchildHoldingThePipesDoesNotHoldTheCommand() async throws {
        let executor = CommandExecutor(limits: ExecutorLimits())
        let log = ExecutionEventLog.watching(executor)
        _ = await executor.submit(shellSpec("bg", "sleep 30 & echo $!", timeout: 25))
        let result = try #require(await log.result("bg", upTo: .seconds(20)))
        #expect(result.status == .succeeded)
        if let grandchild = Int32(utf8Text(result.stdout).trimmingCharacters(in: .whitespacesAndNewlines)) {
            kill(grandchild, SIGKILL)
        }
    }

    @Test func stdinIsClosed() async throws {
        let executor = CommandExecutor(limits: ExecutorLimits())
        let log = ExecutionEventLog.watching(executor)
        _ = await executor.submit(shellSpec("cat", "cat; read line; echo \"read=$?\"", timeout: 20))
        let result = try #require(await log.result("cat"))
        #expect(result.status == .succeeded)
        #expect(utf8Text(result.stdout) == "read=1\n")
    }

    @Test func cancelRunningKillsIt() async throws {
        let executor = CommandExecutor(limits: ExecutorLimits())
        let log = ExecutionEventLog.watching(executor)
        _ = await executor.submit(shellSpec("run", "echo ready; sleep 60"))
        #expect(await log.wait { events in events.contains { if case .output(let o) = $0 { return o.commandId == "run" } else { return false } } })
        await executor.cancel(commandId: "run", reason: "operator cancelled")
        let result = try #require(await log.result("run"))
        #expect(result.status == .cancelled)
        #expect(result.reason == "operator cancelled")
        #expect(utf8Text(result.stdout) == "ready\n")
        await executor.cancel(commandId: "run", reason: "again")  // finished: no-op
        await executor.cancel(commandId: "unknown", reason: "x")
        #expect(await log.events.filter { if case .finished = $0 { return true } else { return false } }.count == 1)
    }

    @Test func cancelQueuedFinishesWithoutRunning() async throws {
        let executor = CommandExecutor(limits: ExecutorLimits(maxConcurrent: 1))
        let log = ExecutionEventLog.watching(executor)
        _ = await executor.submit(shellSpec("first", "sleep 60"))
        #expect(await executor.submit(shellSpec("second", "echo should-not-run")) == .accepted)
        #expect(await executor.queuedCount == 1)
        await executor.cancel(commandId: "second", reason: "not needed")
        let result = try #require(await log.result("second"))
        #expect(result.status == .cancelled)
        #expect(result.reason == "not needed")
        #expect(result.startedAt == nil)
        #expect(await log.events(of: "second").count == 1)
        #expect(await executor.queuedCount == 0)
        await executor.cancel(commandId: "first", reason: "cleanup")
        #expect(try #require(await log.result("first")).status == .cancelled)
    }

    @Test func fullQueueRejectsAtOnce() async throws {
        let executor = CommandExecutor(limits: ExecutorLimits(maxConcurrent: 1, maxQueued: 1))
        let log = ExecutionEventLog.watching(executor)
        #expect(await executor.submit(shellSpec("a", "sleep 60")) == .accepted)
        #expect(await executor.submit(shellSpec("b", "sleep 60")) == .accepted)
        #expect(await executor.submit(shellSpec("c", "true")) == .rejected(reason: "queue full: 1 running, 1 waiting"))
        if case .rejected(let reason) = await executor.submit(shellSpec("a", "true")) {
            #expect(reason.contains("duplicate"))
        } else {
            Issue.record("duplicate id accepted")
        }
        if case .rejected(let reason) = await executor.submit(shellSpec("b", "true")) {
            #expect(reason.contains("duplicate"))
        } else {
            Issue.record("duplicate queued id accepted")
        }
        await executor.shutdown()
        #expect(try #require(await log.result("a")).status == .interrupted)
        #expect(try #require(await log.result("b")).status == .interrupted)
        #expect(await log.result("c", upTo: .milliseconds(1)) == nil)
    }

    @Test func invalidTimeoutIsRejected() async {
        let executor = CommandExecutor(limits: ExecutorLimits())
        for timeout in [0, -1, Double.infinity, Double.nan] {
            guard case .rejected = await executor.submit(shellSpec("t", "true", timeout: timeout)) else {
                Issue.record("timeout \(timeout) accepted")
                continue
            }
        }
    }

    @Test func concurrencyBoundIsRespected() async throws {
        let executor = CommandExecutor(limits: ExecutorLimits(maxConcurrent: 2))
        let log = ExecutionEventLog.watching(executor)
        let ids = (0..<6).map { "c\($0)" }
        for id in ids { #expect(await executor.submit(shellSpec(id, "sleep 0.5")) == .accepted) }
        #expect(await executor.runningCount == 2)
        #expect(await executor.queuedCount == 4)
        for id in ids { #expect(try #require(await log.result(id)).status == .succeeded) }
        var active = 0
        var peak = 0
        for event in await log.events {
            switch event {
            case .started: active += 1
            case .finished: active -= 1
            case .output: break
            }
            peak = max(peak, active)
        }
        #expect(peak == 2)
        #expect(await executor.runningCount == 0)
    }

    @Test func raisingConcurrencyStartsWaitingCommands() async throws {
        let executor = CommandExecutor(limits: ExecutorLimits(maxConcurrent: 1))
        let log = ExecutionEventLog.watching(executor)
        _ = await executor.submit(shellSpec("hold", "sleep 60"))
        _ = await executor.submit(shellSpec("next", "echo next"))
        #expect(await executor.queuedCount == 1)
        await executor.updateLimits(ExecutorLimits(maxConcurrent: 2))
        #expect(try #require(await log.result("next")).status == .succeeded)
        await executor.cancel(commandId: "hold", reason: "done")
        #expect(try #require(await log.result("hold")).status == .cancelled)
    }

    @Test func shutdownKillsRunningAndInterruptsQueued() async throws {
        let executor = CommandExecutor(limits: ExecutorLimits(maxConcurrent: 1))
        let log = ExecutionEventLog.watching(executor)
        _ = await executor.submit(shellSpec("long", "echo $$; sleep 60"))
        _ = await executor.submit(shellSpec("waiting", "echo never"))
        let pid = try #require(await log.startedPid("long"))
        await executor.shutdown()
        let long = try #require(await log.result("long"))
        #expect(long.status == .interrupted)
        #expect(try #require(await log.result("waiting")).status == .interrupted)
        #expect(processIsGone(pid))
        #expect(await log.wait { _ in false } == false)  // the stream ended
        #expect(await log.ended)
        if case .rejected = await executor.submit(shellSpec("late", "true")) {} else { Issue.record("accepted after shutdown") }
    }
}

@Suite struct OutputCollectorTests {
    @Test func chunksAndCapsOneStream() {
        var collector = OutputCollector(commandId: "x", stream: .stdout, cap: 10, chunkBytes: 4)
        let first = collector.append(Data("abcdef".utf8))
        #expect(first.map(\.offset) == [0, 4])
        #expect(first.map { utf8Text($0.data) } == ["abcd", "ef"])
        let second = collector.append(Data("ghijklmn".utf8))
        #expect(second.map(\.offset) == [6])
        #expect(second.map { utf8Text($0.data) } == ["ghij"])
        #expect(collector.truncated)
        #expect(collector.append(Data("z".utf8)).isEmpty)
        #expect(utf8Text(collector.kept) == "abcdefghij")
    }
}
