import Foundation
import RMMProtocol
import Testing
#if canImport(RMMAgentExecution)
@testable import RMMAgentExecution
#else
@testable import RMMAgent
#endif

@Suite struct CommandJournalTests {
    private func journalPath(_ directory: String) -> String { directory + "/" + CommandJournal.fileName }

    private func mode(_ path: String) throws -> Int {
        try #require(FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int)
    }

    @Test func compactionNeverWritesThroughAPlantedSymlink() async throws {
        let directory = temporaryTestDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let victim = directory + "/victim"
        _ = FileManager.default.createFile(atPath: victim, contents: Data("untouched".utf8))
        try FileManager.default.createSymbolicLink(atPath: journalPath(directory) + ".compact", withDestinationPath: victim)
        let journal = try CommandJournal(directory: directory)
        #expect(try await journal.admit("a"))
        #expect(FileManager.default.contents(atPath: victim) == Data("untouched".utf8))
        // The journal itself is a regular file, not the symlink's target.
        let attributes = try FileManager.default.attributesOfItem(atPath: journalPath(directory))
        #expect(attributes[.type] as? FileAttributeType == .typeRegular)
        #expect(try mode(journalPath(directory)) == 0o600)
    }

    @Test func admitTwiceReturnsFalseAndSurvivesReopen() async throws {
        let directory = temporaryTestDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let journal = try CommandJournal(directory: directory)
        #expect(try await journal.admit("a"))
        #expect(try await journal.admit("a") == false)
        #expect(await journal.entry("a") == .admitted)
        #expect(await journal.entry("b") == nil)
        #expect(try mode(directory) == 0o700)
        #expect(try mode(journalPath(directory)) == 0o600)

        let reopened = try CommandJournal(directory: directory)
        #expect(await reopened.entry("a") == .admitted)
        #expect(try await reopened.admit("a") == false)
    }

    @Test func lifecycleIsDurableAndReportedDropsTheOutput() async throws {
        let directory = temporaryTestDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let journal = try CommandJournal(directory: directory)
        _ = try await journal.admit("one")
        _ = try await journal.admit("two")
        try await journal.recordStarted("one", pid: 4242)
        #expect(await journal.entry("one") == .started(pid: 4242))
        let resultTwo = CommandResult(commandId: "two", status: .failed, exitCode: 1, stdout: Data("two\n".utf8), finishedAt: 10)
        let resultOne = CommandResult(commandId: "one", status: .succeeded, exitCode: 0, stdout: Data("one\n".utf8), finishedAt: 11)
        try await journal.recordFinished(resultTwo)
        try await journal.recordFinished(resultOne)
        // Late or repeated facts never move an id backwards or replace its result.
        try await journal.recordStarted("one", pid: 1)
        try await journal.recordFinished(CommandResult(commandId: "one", status: .failed, finishedAt: 12))
        #expect(await journal.entry("one") == .finished(resultOne))
        #expect(await journal.unreportedResults() == [resultTwo, resultOne])

        let reopened = try CommandJournal(directory: directory)
        #expect(await reopened.unreportedResults() == [resultTwo, resultOne])
        try await reopened.recordReported("two")
        #expect(await reopened.entry("two") == .reported)
        #expect(await reopened.unreportedResults() == [resultOne])

        let third = try CommandJournal(directory: directory)
        #expect(await third.entry("two") == .reported)
        #expect(try await third.admit("two") == false)
        #expect(await third.unreportedResults() == [resultOne])
        // Compaction left one line per id, and the reported one without its output.
        let lines = try String(contentsOfFile: journalPath(directory), encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 2)
        #expect(!lines.contains { $0.contains("\"two\",") && $0.contains("stdout") })
    }

    @Test func recoverInterruptedFinishesUnfinishedCommandsOnce() async throws {
        let directory = temporaryTestDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let journal = try CommandJournal(directory: directory)
        _ = try await journal.admit("queued")
        _ = try await journal.admit("running")
        try await journal.recordStarted("running", pid: nil)
        _ = try await journal.admit("done")
        try await journal.recordFinished(CommandResult(commandId: "done", status: .succeeded, finishedAt: 5))

        let restarted = try CommandJournal(directory: directory)
        let recovered = try await restarted.recoverInterrupted(now: 100)
        #expect(recovered.map(\.commandId) == ["queued", "running"])
        #expect(recovered.allSatisfy { $0.status == .interrupted && $0.finishedAt == 100 })
        #expect(recovered[0].reason == "agent restarted before the command started")
        #expect(recovered[1].reason == "agent restarted while the command was running")
        #expect(recovered[0].startedAt == nil)
        #expect(recovered[1].startedAt != nil)

        let again = try CommandJournal(directory: directory)
        #expect(try await again.recoverInterrupted(now: 200) == [])
        #expect(await again.entry("running") == .finished(recovered[1]))
        #expect(await again.unreportedResults().map(\.commandId) == ["done", "queued", "running"])
    }

    @Test func recoverInterruptedKillsTheOrphanedProcessGroup() async throws {
        let directory = temporaryTestDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // The "previous agent": an executor whose command is still running when the journal is reopened.
        let executor = CommandExecutor(limits: ExecutorLimits())
        let log = ExecutionEventLog.watching(executor)
        let journal = try CommandJournal(directory: directory)
        _ = try await journal.admit("orphan")
        _ = await executor.submit(shellSpec("orphan", "sleep 60 & echo $!; sleep 60", timeout: 60))
        let pid = try #require(await log.startedPid("orphan"))
        try await journal.recordStarted("orphan", pid: pid)
        #expect(await log.wait { $0.contains { if case .output = $0 { return true } else { return false } } })

        let restarted = try CommandJournal(directory: directory)
        let recovered = try await restarted.recoverInterrupted(now: Date().timeIntervalSince1970)
        #expect(recovered.map(\.commandId) == ["orphan"])
        // SIGKILL, not our own cancel: the executor sees a command killed by signal 9.
        let result = try #require(await log.result("orphan", upTo: .seconds(10)))
        #expect(result.status == .failed)
        #expect(result.signal == 9)
        let grandchild = try #require(Int32(utf8Text(result.stdout).trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(await eventuallyTrue { processIsGone(grandchild) })
    }

    @Test func aPidFromAnotherProcessInstanceIsNotKilled() {
        let platform = LinuxCommandPlatform()
        let me = getpid()
        let identity = platform.processIdentity(pid: me)
        #expect(identity != nil)
        // Wrong start time (a reused pid) or another boot: refuse. Never signal ourselves in this test.
        #expect(platform.killOrphanedProcessGroup(leader: me, identity: (identity ?? "") + "0") == false)
        #expect(platform.killOrphanedProcessGroup(leader: me, identity: "another-boot:123") == false)
        #expect(platform.killOrphanedProcessGroup(leader: me, identity: nil) == false)
    }

    @Test func tornLastLineIsIgnored() async throws {
        let directory = temporaryTestDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        do {
            let journal = try CommandJournal(directory: directory)
            _ = try await journal.admit("kept")
        }
        let handle = try #require(FileHandle(forWritingAtPath: journalPath(directory)))
        handle.seekToEndOfFile()
        handle.write(Data("{\"id\":\"torn\",\"kind\":\"adm".utf8))
        try handle.close()

        let reopened = try CommandJournal(directory: directory)
        #expect(await reopened.entry("kept") == .admitted)
        #expect(await reopened.entry("torn") == nil)
        #expect(reopened.damagedLinesSkipped == 0)
        // The torn bytes are gone, so new lines append cleanly.
        #expect(try await reopened.admit("next"))
        let again = try CommandJournal(directory: directory)
        #expect(await again.entry("next") == .admitted)
        #expect(await again.entry("kept") == .admitted)
    }

    @Test func corruptLineCostsOnlyItself() async throws {
        let directory = temporaryTestDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let good = { (id: String) in "{\"id\":\"\(id)\",\"kind\":\"admitted\",\"time\":1}" }
        let contents = [good("first"), "garbage \u{0}{", good("second"), "{\"id\":\"x\"}", good("third")].joined(separator: "\n") + "\n"
        try Data(contents.utf8).write(to: URL(fileURLWithPath: journalPath(directory)))
        let journal = try CommandJournal(directory: directory)
        #expect(journal.damagedLinesSkipped == 2)
        for id in ["first", "second", "third"] { #expect(await journal.entry(id) == .admitted) }
    }

    @Test func compactionKeepsEveryIdUntilItsSignedDeadlinePassedAndItWasReported() {
        func state(_ id: String, _ kind: JournalRecord.Kind, time: Double, forgetAfter: Double?, _ sequence: Int) -> (String, JournalState) {
            (id, JournalState(record: JournalRecord(id: id, kind: kind, time: time, forgetAfter: forgetAfter), sequence: sequence))
        }
        let now = 1_000_000.0
        let states = Dictionary(uniqueKeysWithValues: [
            state("expired-reported", .reported, time: 0, forgetAfter: now - 1, 0),
            state("expired-but-unreported", .finished, time: 0, forgetAfter: now - 1, 1),
            state("valid-reported", .reported, time: 0, forgetAfter: now + 1, 2),
            state("legacy-old", .reported, time: now - WorkLimits.maxValiditySeconds - WorkLimits.clockSkewSeconds - 1, forgetAfter: nil, 3),
            state("legacy-recent", .reported, time: now - 10, forgetAfter: nil, 4),
        ])
        let kept = JournalLoader.compacted(states, now: now)
        #expect(kept.map(\.record.id) == ["expired-but-unreported", "valid-reported", "legacy-recent"])
        #expect(kept.map(\.sequence) == [0, 1, 2])
    }

    @Test func aFullJournalRefusesNewIdsInsteadOfForgettingValidOnes() async throws {
        let directory = temporaryTestDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let journal = try CommandJournal(directory: directory, platform: currentCommandPlatform(), now: 100, capacity: 2)
        #expect(try await journal.admit("a", forgetAfter: 200, now: 100) == .admitted)
        #expect(try await journal.admit("b", forgetAfter: 500, now: 100) == .admitted)
        try await journal.recordReported("a")
        guard case .full(let why) = try await journal.admit("c", forgetAfter: 600, now: 150) else {
            Issue.record("a journal holding only valid ids admitted another")
            return
        }
        #expect(why.contains("capacity 2"))
        #expect(try await journal.admit("a", forgetAfter: 200, now: 150) == .duplicate, "a full journal still knows its ids")
        // Once "a" is past its deadline (and reported) it makes room; "b" is not reported, so it stays.
        #expect(try await journal.admit("c", forgetAfter: 600, now: 201) == .admitted)
        #expect(await journal.entry("a") == nil)
        #expect(await journal.entry("b") == .admitted)
        // The deadline travels with every later fact about an id, across a reopen.
        try await journal.recordReported("b")
        let reopened = try CommandJournal(directory: directory, platform: currentCommandPlatform(), now: 499, capacity: 2)
        #expect(await reopened.entry("b") == .reported)
        let later = try CommandJournal(directory: directory, platform: currentCommandPlatform(), now: 501, capacity: 2)
        #expect(await later.entry("b") == nil)
        #expect(await later.entry("c") == .admitted)
    }

    @Test func aJournalThatCannotBeReadIsLeftAsItIsAndStopsTheStart() throws {
        let directory = temporaryTestDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // Something at the journal's path that cannot be read as a file.
        try FileManager.default.createDirectory(atPath: journalPath(directory), withIntermediateDirectories: true)
        #expect(throws: JournalError.self) { _ = try CommandJournal(directory: directory) }
        var isDirectory: ObjCBool = false
        #expect(FileManager.default.fileExists(atPath: journalPath(directory), isDirectory: &isDirectory) && isDirectory.boolValue)
    }

    @Test func aRefusalThatWasNeverJournaledLeavesNoTrace() async throws {
        let directory = temporaryTestDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let journal = try CommandJournal(directory: directory)
        try await journal.recordReported("forged")
        #expect(await journal.entry("forged") == nil)
        #expect(try CommandJournal(directory: directory).damagedLinesSkipped == 0)
        #expect(FileManager.default.contents(atPath: journalPath(directory))?.isEmpty == true)
    }
}

extension CommandJournal {
    /// Admits an id valid for the protocol's longest validity; true when it was new.
    func admit(_ commandId: String) throws -> Bool {
        try admit(commandId, forgetAfter: ExecutionClock.unixSeconds() + WorkLimits.maxValiditySeconds) == .admitted
    }
}

@Suite struct HostMetricsTests {
    @Test func sampleReturnsPlausibleValues() async throws {
        let source = currentHostMetricsSource()
        let first = await source.sample()
        // Some work between samples so the interval has ticks.
        var x = 0.0
        for i in 0..<2_000_000 { x += Double(i).squareRoot() }
        #expect(x > 0)
        let metrics = await source.sample()
        for sample in [first, metrics] {
            let cpu = try #require(sample.cpuPercent)
            #expect(cpu >= 0 && cpu <= 100)
            let memory = try #require(sample.memoryTotalBytes)
            #expect(memory > 64 << 20)
            #expect((0...memory).contains(try #require(sample.memoryUsedBytes)))
            let disk = try #require(sample.diskTotalBytes)
            #expect(disk > 0)
            #expect((0...disk).contains(try #require(sample.diskUsedBytes)))
            #expect(try #require(sample.load1) >= 0)
            #expect(try #require(sample.load15) >= 0)
            #expect(try #require(sample.uptimeSeconds) > 0)
        }
    }

    @Test func parsesProcFormats() {
        let stat = "cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 1 2 3 4\n"
        #expect(LinuxHostMetrics.parseCPU(stat) == LinuxHostMetrics.CPUTicks(busy: 150, total: 1000))
        let meminfo = "MemTotal:        1000 kB\nMemFree:          100 kB\nMemAvailable:     400 kB\n"
        let memory = LinuxHostMetrics.parseMemory(meminfo)
        #expect(memory?.total == 1_024_000)
        #expect(memory?.used == 614_400)
        #expect(LinuxHostMetrics.parseNumbers("0.50 0.25 0.10 1/234 5678\n").prefix(3) == [0.5, 0.25, 0.1])
    }
}
