import Foundation
import NIOCore
import NIOEmbedded
import RMMAPI
import RMMProtocol
import RMMStore
import RMMTestSupport
import Synchronization
import Testing
@testable import RMMServer

/// Pre-authentication evidence is tied to an agent only through the connection id the agent proves
/// later over an authenticated connection; never by address; once; and what nobody claims stays
/// per address.
@Suite("Link verdicts: attribution and recording")
struct VerdictAttributionTests {
    static func attempt(_ id: String?, address: String = "198.51.100.9", closedAt: Double = 10) -> HandshakeFact {
        HandshakeFact(connectionId: id, address: address, stage: id == nil ? .tls : .challenge, downlinkMode: .text, challengeWritten: id != nil,
                      controlFramesIn: 1, dataFramesIn: 0, closeReason: "4005: no hello within 10 s",
                      openedAt: Fixture.t0.timeIntervalSince1970, closedAt: Fixture.t0.timeIntervalSince1970 + closedAt)
    }

    static func report(_ findings: [LinkFinding]) -> LinkReport {
        LinkReport(side: LinkSideReport(counters: LinkCounters(), tcp: nil, queuedBytes: nil, downlinkMode: .poll, time: Fixture.t0.timeIntervalSince1970),
                   reconnects: [], agentFinding: nil, consumerStalledSeconds: 0, findings: findings)
    }

    static func challengeLost(_ id: String?, at seconds: Double = 11) -> LinkFinding {
        LinkFinding(kind: .challengeLost, time: Fixture.t0.timeIntervalSince1970 + seconds, connectionId: id, downlinkMode: .text, detail: "no challenge")
    }

    /// Two agents' sessions sharing one handshake book, each attached on epoch 1.
    static func sessions() async throws -> (store: SQLiteStore, book: HandshakeBook, sessions: [AgentSession], ids: [String]) {
        let (store, agents) = try await Fixture.store(agents: ["a", "b"])
        let book = HandshakeBook()
        var sessions: [AgentSession] = []
        for agent in agents {
            let session = AgentSession(agentId: agent.id, store: store, feed: ChangeFeed(), settings: ServerSettings(), config: .defaults,
                                       signer: Fixture.signer, logger: Fixture.quietLogger, handshakeBook: book)
            let link = try await TestLink.make()
            await session.attach(link: link.link, epoch: 1, agentStream: "s-\(agent.id)", peerSaw: nil, now: Fixture.t0)
            sessions.append(session)
        }
        return (store, book, sessions, agents.map(\.id))
    }

    @Test("an id the book holds, named by an authenticated agent: one handshake verdict combining both, and the attempt leaves the address list")
    func attributedById() async throws {
        let (store, book, sessions, ids) = try await Self.sessions()
        book.note(Self.attempt("k_one"))
        await sessions[0].handle(Envelope(.linkReport(Self.report([Self.challengeLost("k_one")]))), epoch: 1, now: Fixture.at(20))
        let history = try await store.verdicts(agentId: ids[0], limit: 10).filter { $0.verdict != .superseded }
        #expect(history.map(\.verdict) == [.pathFiltersData])
        #expect(history.first?.source == .handshake)
        #expect(history.first?.stage == .challenge)
        #expect(book.unattributed().isEmpty)
        // The same report again (agents repeat their findings) changes nothing.
        await sessions[0].handle(Envelope(.linkReport(Self.report([Self.challengeLost("k_one")]))), epoch: 1, now: Fixture.at(25))
        #expect(try await store.verdicts(agentId: ids[0], limit: 10).first?.count == 1)
    }

    @Test("an id the book does not hold is the agent's own word only (agent report), never a handshake verdict")
    func unknownId() async throws {
        let (store, book, sessions, ids) = try await Self.sessions()
        book.note(Self.attempt("k_real"))
        await sessions[0].handle(Envelope(.linkReport(Self.report([Self.challengeLost("k_guess")]))), epoch: 1, now: Fixture.at(20))
        let history = try await store.verdicts(agentId: ids[0], limit: 10)
        #expect(history.first?.source == .agentReport)
        #expect(!history.contains { $0.source == .handshake })
        #expect(book.unattributed().first?.facts.map(\.connectionId) == ["k_real"], "the real attempt stays unattributed")
    }

    @Test("an attempt is attributed once: a second agent naming the same id gets nothing from the book")
    func claimedOnce() async throws {
        let (store, book, sessions, ids) = try await Self.sessions()
        book.note(Self.attempt("k_shared"))
        await sessions[0].handle(Envelope(.linkReport(Self.report([Self.challengeLost("k_shared")]))), epoch: 1, now: Fixture.at(20))
        await sessions[1].handle(Envelope(.linkReport(Self.report([Self.challengeLost("k_shared")]))), epoch: 1, now: Fixture.at(21))
        #expect(try await store.verdicts(agentId: ids[0], limit: 10).first?.source == .handshake)
        let second = try await store.verdicts(agentId: ids[1], limit: 10)
        #expect(!second.contains { $0.source == .handshake }, "\(second)")
    }

    @Test("an address is never enough: attempts from the agent's own address without its id stay unattributed, and so do TLS-stage ones")
    func neverByAddress() async throws {
        let (store, book, sessions, ids) = try await Self.sessions()
        book.note(Self.attempt("k_x", address: "127.0.0.1"))
        book.note(Self.attempt(nil, address: "127.0.0.1"))
        // A finding without an id (answer-lost: there was no upgrade answer) claims nothing either.
        let answerLost = LinkFinding(kind: .answerLost, time: Fixture.t0.timeIntervalSince1970 + 12, connectionId: nil, downlinkMode: .text, detail: "no answer")
        await sessions[0].handle(Envelope(.linkReport(Self.report([answerLost]))), epoch: 1, now: Fixture.at(20))
        let newest = try #require(try await store.verdicts(agentId: ids[0], limit: 10).first)
        #expect(newest.verdict == .sizeBlackhole && newest.source == .agentReport && newest.stage == .tls, "\(newest)")
        #expect(book.unattributed().first?.facts.count == 2)
    }

    @Test("the book is bounded in all and per address: one address cannot push out the others")
    func bounded() {
        let book = HandshakeBook(capacity: 10, perAddress: 3)
        book.note(Self.attempt("k_victim", address: "203.0.113.1"))
        for i in 0..<50 { book.note(Self.attempt("k_flood\(i)", address: "203.0.113.66")) }
        #expect(book.count == 4)
        #expect(book.unattributed().first { $0.address == "203.0.113.1" }?.facts.count == 1)
        for i in 0..<20 { book.note(Self.attempt("k_many\(i)", address: "192.0.2.\(i)")) }
        #expect(book.count == 10)
        #expect(book.claim(connectionId: "k_many19") != nil)
        #expect(book.claim(connectionId: "k_many19") == nil)
    }

    @Test("attempts without an id have their own budget: a flood of them from many addresses leaves every claimable attempt")
    func anonymousFloodKeepsClaimable() {
        let book = HandshakeBook(capacity: 10, perAddress: 3, anonymousCapacity: 5)
        for i in 0..<5 { book.note(Self.attempt("k_victim\(i)", address: "203.0.113.\(i)")) }
        for i in 0..<200 { book.note(Self.attempt(nil, address: "198.51.\(i / 200).\(i % 200)")) }
        #expect(book.count == 10)
        for i in 0..<5 { #expect(book.claim(connectionId: "k_victim\(i)") != nil) }
        // And claimable ones never push the anonymous ones out either.
        for i in 0..<30 { book.note(Self.attempt("k_more\(i)", address: "192.0.2.\(i)")) }
        #expect(book.unattributed().flatMap(\.facts).filter { $0.connectionId == nil }.count == 5)
    }

    @Test("the book stays exact through many notes, claims and evictions (lazy order queues)")
    func bookStaysExact() {
        let book = HandshakeBook(capacity: 8, perAddress: 3, anonymousCapacity: 4)
        var kept: [String] = []
        for i in 0..<500 {
            let id = "k_\(i)"
            book.note(Self.attempt(id, address: "192.0.2.\(i % 5)"))
            kept.append(id)
            if i % 3 == 0 { #expect(book.claim(connectionId: id) != nil); kept.removeLast() }
            book.note(Self.attempt(nil, address: "192.0.2.\(i % 7)"))
        }
        #expect(book.count == 8 + 4)
        let listed = book.unattributed()
        #expect(listed.allSatisfy { entry in entry.facts.filter { $0.connectionId != nil }.count <= 3 })
        // The newest claimable ones are the ones kept.
        let held = Set(listed.flatMap(\.facts).compactMap(\.connectionId))
        #expect(held == Set(kept.suffix(8)), "\(held)")
    }

    @Test("an agent flooding new findings gets at most 8 judged per 10 s; later ones are judged again after the window")
    func findingFloodBounded() async throws {
        let (store, agentId, session, _) = try await Fixture.attachedSession()
        let kinds: [LinkFinding.Kind] = [.consumerStalled, .workRefused]
        for i in 0..<20 {
            let finding = LinkFinding(kind: kinds[i % 2], time: Fixture.t0.timeIntervalSince1970 + Double(i), connectionId: nil, downlinkMode: .text, detail: "\(i)")
            await session.handle(Envelope(.linkReport(Self.report([finding]))), epoch: 1, now: Fixture.at(1))
        }
        let judged = try await store.verdicts(agentId: agentId, limit: 100).filter { $0.verdict != .superseded }
        #expect(judged.reduce(0) { $0 + $1.count } == 8)
        let late = LinkFinding(kind: .watchdog, time: Fixture.t0.timeIntervalSince1970 + 30, connectionId: nil, downlinkMode: .text, detail: "late")
        await session.handle(Envelope(.linkReport(Self.report([late]))), epoch: 1, now: Fixture.at(12))
        #expect(try await store.verdicts(agentId: agentId, limit: 1).first?.verdict == .agentStalled)
        #expect(try await store.verdicts(agentId: agentId, limit: 100).reduce(0) { $0 + $1.count } == 9)
    }

    @Test("a new adverse verdict notes the delay on each command written and not yet acknowledged, once per entry")
    func delayNoted() async throws {
        let (store, agentId, session, _) = try await Fixture.attachedSession(commands: ["c_1"])
        let finding = LinkFinding(kind: .downlinkQuiet, time: Fixture.t0.timeIntervalSince1970 + 5, connectionId: nil, downlinkMode: .text, detail: "quiet")
        await session.handle(Envelope(.linkReport(Self.report([finding]))), epoch: 1, now: Fixture.at(6))
        var again = finding
        again.time += 1
        await session.handle(Envelope(.linkReport(Self.report([again]))), epoch: 1, now: Fixture.at(7))
        let notes = try await store.events(commandId: "c_1").compactMap(\.reason).filter { $0.contains("delayed by link verdict path-filters-data") }
        #expect(notes.count == 1, "\(notes)")
        #expect(try await store.verdicts(agentId: agentId, limit: 10).first?.count == 2)
    }

    @Test("alternating verdict kinds note each kind once per waiting command, as history only: state, reason and version stay")
    func delayNotesBounded() async throws {
        let (store, _, session, _) = try await Fixture.attachedSession(commands: ["c_1"])
        let before = try #require(try await store.command(id: "c_1"))
        #expect(before.state == .sent)
        let kinds: [LinkFinding.Kind] = [.downlinkQuiet, .consumerStalled]
        for i in 0..<6 {
            let finding = LinkFinding(kind: kinds[i % 2], time: Fixture.t0.timeIntervalSince1970 + Double(i), connectionId: nil, downlinkMode: .text, detail: "\(i)")
            await session.handle(Envelope(.linkReport(Self.report([finding]))), epoch: 1, now: Fixture.at(Double(i)))
        }
        let notes = try await store.events(commandId: "c_1").compactMap(\.reason).filter { $0.hasPrefix("delayed by link verdict") }
        #expect(notes.count == 2, "\(notes)")
        let after = try #require(try await store.command(id: "c_1"))
        #expect(after.state == .sent && after.reason == before.reason && after.version == before.version)
    }

    @Test("a delay note goes only on commands still sent at the write: a requeued or ended one gets none")
    func delayNoteChecksStateInTheWrite() async throws {
        let (store, agents) = try await Fixture.store()
        try await Fixture.insert(["c_q", "c_s"], agent: agents[0].id, into: store)
        _ = try await store.transition(commandId: "c_s", to: .sent, reason: nil, now: Fixture.at(1))
        let noted = try await store.noteDelay(commandIds: ["c_q", "c_s", "c_s", "c_missing"], note: "delayed by link verdict x (a, b) since T: y",
                                              once: "delayed by link verdict x (", now: Fixture.at(2))
        #expect(noted == ["c_s"])
        #expect(try await store.events(commandId: "c_q").allSatisfy { $0.reason?.hasPrefix("delayed") != true })
    }

    @Test("a report repeated on a new connection while the old one's judging waits on the store is judged once")
    func reconnectDuringJudgingJudgesOnce() async throws {
        let (_, store, agentId, session, _) = try await Fixture.faultySession()
        let findings = [LinkFinding.Kind.downlinkQuiet, .consumerStalled].enumerated().map { i, kind in
            LinkFinding(kind: kind, time: Fixture.t0.timeIntervalSince1970 + Double(i), connectionId: nil, downlinkMode: .text, detail: "\(i)")
        }
        store.holdVerdicts.withLock { $0 = 1 }
        let first = Task { await session.handle(Envelope(.linkReport(Self.report(findings))), epoch: 1, now: Fixture.at(5)) }
        try await waitUntil("the first verdict write is held") { store.heldVerdicts.withLock { $0.count } == 1 }
        let second = try await TestLink.make()
        await session.attach(link: second.link, epoch: 2, agentStream: "as", peerSaw: nil, now: Fixture.at(6))
        await session.handle(Envelope(.linkReport(Self.report(findings))), epoch: 2, now: Fixture.at(6))
        store.releaseVerdicts()
        await first.value
        let history = try await store.verdicts(agentId: agentId, limit: 10).filter { $0.verdict != .superseded }
        #expect(history.map(\.count) == [1, 1], "\(history)")
        // And the set was not clobbered: the report once more changes nothing.
        await session.handle(Envelope(.linkReport(Self.report(findings))), epoch: 2, now: Fixture.at(7))
        #expect(try await store.verdicts(agentId: agentId, limit: 10).filter { $0.verdict != .superseded }.map(\.count) == [1, 1])
    }

    @Test("verdict writes that resume out of order leave the newest entry current")
    func latestVerdictNeverGoesBack() async throws {
        let (_, store, _, session, _) = try await Fixture.faultySession()
        store.holdVerdicts.withLock { $0 = 1 }
        let evidence = LinkEvidence(source: .serverProbe, now: Fixture.t0.timeIntervalSince1970)
        let older = Task {
            await session.recordVerdict(LinkConclusion(verdict: .halfOpen, stage: .session, summary: "older"), source: .serverProbe,
                                        evidence: evidence, at: Fixture.at(1), notesDelays: false)
        }
        try await waitUntil("the older write is held") { store.heldVerdicts.withLock { $0.count } == 1 }
        let newer = await session.recordVerdict(LinkConclusion(verdict: .healthy, stage: .session, summary: "newer"), source: .serverProbe,
                                                evidence: evidence, at: Fixture.at(2), notesDelays: false)
        store.releaseVerdicts()
        _ = await older.value
        #expect(await session.currentVerdict()?.id == newer?.id)
        #expect(await session.currentVerdict()?.verdict == .healthy)
    }

    @Test("the downlink reason names the server's evidence before a newer agent report of the same verdict")
    func downlinkReasonPrefersServerEvidence() async throws {
        let (store, agents) = try await Fixture.store(agents: ["both", "reported"])
        func record(_ agent: AgentRecord, _ source: LinkVerdictSource, _ stage: LinkStage, at seconds: Double) async throws {
            _ = try await store.recordVerdict(VerdictRecord(agentId: agent.id, verdict: .pathFiltersData, source: source, stage: stage, summary: "s",
                                                            evidence: Data("{}".utf8), firstAt: Fixture.at(seconds)), keep: 100)
        }
        try await record(agents[0], .handshake, .challenge, at: 5)
        try await record(agents[0], .agentReport, .session, at: 9)
        try await record(agents[1], .agentReport, .session, at: 9)
        let causes = try await store.latestVerdicts(agentIds: agents.map(\.id), only: .pathFiltersData)
        let reason = DownlinkReason.explain(mode: .poll, cause: causes[agents[0].id])
        #expect(reason.contains("at the challenge, from the handshake (claimed by the agent)"), "\(reason)")
        #expect(DownlinkReason.explain(mode: .poll, cause: causes[agents[1].id]).contains("from the agent's report"))
    }

    @Test("a finding flood logs once per window, with the count of dropped findings")
    func findingFloodLogsOncePerWindow() async throws {
        let (store, agents) = try await Fixture.store()
        let log = CapturedLog()
        let session = AgentSession(agentId: agents[0].id, store: store, feed: ChangeFeed(), settings: ServerSettings(), config: .defaults,
                                   signer: Fixture.signer, logger: log.logger())
        let link = try await TestLink.make()
        await session.attach(link: link.link, epoch: 1, agentStream: "as", peerSaw: nil, now: Fixture.t0)
        let kinds: [LinkFinding.Kind] = [.consumerStalled, .workRefused]
        for i in 0..<20 {
            let finding = LinkFinding(kind: kinds[i % 2], time: Fixture.t0.timeIntervalSince1970 + Double(i), connectionId: nil, downlinkMode: .text, detail: "\(i)")
            await session.handle(Envelope(.linkReport(Self.report([finding]))), epoch: 1, now: Fixture.at(1))
        }
        #expect(log.all.filter { $0.contains("agent findings beyond") }.count == 1, "\(log.all)")
        let late = LinkFinding(kind: .watchdog, time: Fixture.t0.timeIntervalSince1970 + 30, connectionId: nil, downlinkMode: .text, detail: "late")
        await session.handle(Envelope(.linkReport(Self.report([late]))), epoch: 1, now: Fixture.at(12))
        let lines = log.all.filter { $0.contains("agent findings beyond") }
        #expect(lines.count == 2 && lines[1].contains("ignored 11 more"), "\(lines)")
    }

    @Test("the per-address view shows a short tag of the connection id, never the id that would claim the attempt")
    func addressViewHidesConnectionIds() throws {
        let fact = Self.attempt("k_0123456789abcdef0123456789abcdef")
        let view = AttemptView(verdict: .handshakeIncomplete, stage: .challenge, summary: "s", fact: fact)
        let json = String(decoding: try APICoding.encoder().encode(view), as: UTF8.self)
        #expect(!json.contains("k_0123"), "\(json)")
        #expect(view.fact.connectionId == nil)
        let tag = try #require(view.connectionTag)
        #expect(tag.count == 8 && tag.allSatisfy(\.isHexDigit) && tag == AttemptView.connectionTag(fact.connectionId ?? ""))
        #expect(AttemptView(verdict: .handshakeIncomplete, stage: .tls, summary: "s", fact: Self.attempt(nil)).connectionTag == nil)
    }

    @Test("a claimed attempt whose verdict could not be stored goes back to the book, and the repeated finding is judged then")
    func failedWriteKeepsTheEvidence() async throws {
        let (base, agents) = try await Fixture.store()
        let store = FaultyStore(base: base)
        let book = HandshakeBook()
        let session = AgentSession(agentId: agents[0].id, store: store, feed: ChangeFeed(), settings: ServerSettings(), config: .defaults,
                                   signer: Fixture.signer, logger: Fixture.quietLogger, handshakeBook: book)
        let link = try await TestLink.make()
        await session.attach(link: link.link, epoch: 1, agentStream: "as", peerSaw: nil, now: Fixture.t0)
        book.note(Self.attempt("k_one"))
        store.failVerdictWrites.withLock { $0 = 1 }
        await session.handle(Envelope(.linkReport(Self.report([Self.challengeLost("k_one")]))), epoch: 1, now: Fixture.at(20))
        #expect(book.unattributed().first?.facts.map(\.connectionId) == ["k_one"], "the attempt is back in the book")
        await session.handle(Envelope(.linkReport(Self.report([Self.challengeLost("k_one")]))), epoch: 1, now: Fixture.at(25))
        let history = try await base.verdicts(agentId: agents[0].id, limit: 10).filter { $0.verdict != .superseded }
        #expect(history.first?.source == .handshake, "\(history)")
        #expect(book.unattributed().isEmpty)
    }

    @Test("an agent padding its report cannot erase the server's handshake fact from the stored evidence")
    func paddedReportKeepsServerEvidence() throws {
        var evidence = LinkEvidence(source: .handshake, now: Fixture.t0.timeIntervalSince1970)
        evidence.handshake = Self.attempt("k_one")
        var report = Self.report([Self.challengeLost("k_one")])
        report.reconnects = (0..<400).map { ReconnectRecord(time: Double($0), reason: String(repeating: "x", count: 200)) }
        evidence.agent = report
        let json = EvidenceFit.json(evidence)
        #expect(json.count <= VerdictRecord.maxEvidenceBytes)
        let stored = try APICoding.decoder().decode(LinkEvidence.self, from: json)
        #expect(stored.handshake == EvidenceFit.withoutConnectionIds(evidence).handshake)
        #expect(stored.handshake?.address == evidence.handshake?.address)
        // Small evidence is kept whole (its connection ids as tags).
        evidence.agent = Self.report([])
        #expect(try APICoding.decoder().decode(LinkEvidence.self, from: EvidenceFit.json(evidence)) == EvidenceFit.withoutConnectionIds(evidence))
    }

    @Test("stored evidence (served to every API role) carries connection ids only as tags: an unclaimed id in an agent's report cannot be read and claimed by another")
    func storedEvidenceHidesConnectionIds() throws {
        var evidence = LinkEvidence(source: .handshake, now: Fixture.t0.timeIntervalSince1970)
        evidence.handshake = Self.attempt("k_claimed")
        evidence.finding = Self.challengeLost("k_claimed")
        evidence.agent = Self.report([Self.challengeLost("k_claimed"), Self.challengeLost("k_still_unclaimed")])
        let json = String(decoding: EvidenceFit.json(evidence), as: UTF8.self)
        #expect(!json.contains("k_claimed") && !json.contains("k_still_unclaimed"), "\(json)")
        #expect(json.contains(AttemptView.connectionTag("k_still_unclaimed")), "\(json)")
    }
}

/// A connection that never completes its request is kept as per-address evidence, with no id.
@Suite("Link verdicts: connections that never complete a request")
struct IncompleteRequestEvidenceTests {
    @Test("the 408 deadline notes a TLS-stage attempt under the peer's address, which no agent can claim")
    func requestDeadlineNotesAttempt() throws {
        let book = HandshakeBook()
        let limiter = AddressLimiter(maxUnauthenticated: 5, maxFailures: 5)
        let channel = EmbeddedChannel(handler: AgentConnectionGuard(limiter: limiter, requestTimeout: 2, logger: Fixture.quietLogger, book: book, behindTLS: true))
        try channel.connect(to: try SocketAddress(ipAddress: "127.0.0.3", port: 40_000)).wait()
        channel.embeddedEventLoop.advanceTime(by: .seconds(3))
        let entry = try #require(book.unattributed().first)
        #expect(entry.address == "127.0.0.3")
        let fact = try #require(entry.facts.first)
        #expect(fact.connectionId == nil)
        #expect(fact.stage == .tls)
        #expect(fact.closeReason.contains("no TLS handshake or upgrade request"))
        var evidence = LinkEvidence(source: .handshake, now: fact.closedAt)
        evidence.handshake = fact
        #expect(LinkVerdict.decide(evidence).conclusion?.verdict == .handshakeIncomplete)
    }

    @Test("a peer that closes before completing its request is noted too; one that completed it is not")
    func earlyCloseNoted() throws {
        let book = HandshakeBook()
        let limiter = AddressLimiter(maxUnauthenticated: 5, maxFailures: 5)
        let early = EmbeddedChannel(handler: AgentConnectionGuard(limiter: limiter, requestTimeout: 5, logger: Fixture.quietLogger, book: book, behindTLS: false))
        try early.connect(to: try SocketAddress(ipAddress: "127.0.0.4", port: 40_001)).wait()
        try early.writeInbound(ByteBuffer(string: "GET /age"))
        _ = try early.readInbound(as: ByteBuffer.self)
        _ = try early.close().wait()
        let fact = try #require(book.unattributed().first { $0.address == "127.0.0.4" }?.facts.first)
        #expect(fact.closeReason.contains("the peer closed") && fact.closeReason.contains("complete upgrade request"), "\(fact.closeReason)")

        let complete = AgentConnectionGuard(limiter: limiter, requestTimeout: 5, logger: Fixture.quietLogger, book: book, behindTLS: false)
        let done = EmbeddedChannel(handler: complete)
        try done.connect(to: try SocketAddress(ipAddress: "127.0.0.5", port: 40_002)).wait()
        _ = try complete.requestComplete()
        _ = try done.close().wait()
        #expect(!book.unattributed().contains { $0.address == "127.0.0.5" })
    }
}

/// H6: a new authenticated connection replacing one still held open is recorded, with its evidence.
@Suite("Link verdicts: superseded connections")
struct SupersededVerdictTests {
    @Test("attaching epoch 2 while epoch 1 is still held records superseded (server probe) with the epochs and moved frames")
    func supersededRecorded() async throws {
        let (store, agentId, session, _) = try await Fixture.attachedSession(commands: ["c_1"])
        let second = try await TestLink.make()
        await session.attach(link: second.link, epoch: 2, agentStream: "as", peerSaw: nil, now: Fixture.at(5))
        let entry = try #require(try await store.verdicts(agentId: agentId, limit: 10).first)
        #expect(entry.verdict == .superseded)
        #expect(entry.source == .serverProbe)
        #expect(entry.summary.contains("epoch 2") && entry.summary.contains("epoch 1"))
        #expect(entry.summary.contains("1 unacknowledged frame(s) moved"), "\(entry.summary)")
        // No delay note: the frames moved to the new route at once.
        #expect(try await store.events(commandId: "c_1").allSatisfy { $0.reason?.contains("delayed by") != true })
    }
}
