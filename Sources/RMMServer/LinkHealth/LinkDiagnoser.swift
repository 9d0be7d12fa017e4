import Foundation
import RMMAPI
import RMMProtocol

/// Diagnoses one agent's link: a thin driver around `LinkVerdict.decide`. It gathers what decide
/// asks for (writability looks, a control ping, data echoes, the agent's report) on the connection
/// that was current at the start, then has the session apply and record the verdict.
struct LinkDiagnoser {
    let session: AgentSession

    func run(trigger: String) async -> LinkDiagnosis {
        let started = Date()
        var diagnosis = LinkDiagnosis(
            agentId: session.agentId, verdict: .healthy, summary: "", trigger: trigger, startedAt: started, finishedAt: started,
            largestPassedBytes: nil, firstBadMessage: nil, pongRttMs: nil, probes: [], server: nil, agent: nil, agentReportAt: nil,
            pongRtt: nil, actions: []
        )
        let (claimed, pinned) = await session.beginDiagnosis()
        guard claimed else {
            // One runs already: wait for its result rather than invent one.
            let deadline = Date().addingTimeInterval(90)
            while await session.diagnosing, Date() < deadline { try? await Task.sleep(for: .milliseconds(200)) }
            if let last = await session.lastDiagnosis { return last }
            diagnosis.verdict = .agentOffline
            diagnosis.summary = "another diagnosis of this agent did not finish"
            return diagnosis
        }
        var evidence = LinkEvidence(source: .serverProbe, now: started.timeIntervalSince1970, connected: false)
        var before: (server: LinkSideReport, agent: LinkReport?, agentAt: Date?)?
        if let epoch = pinned { before = await session.linkEvidence(epoch: epoch) }
        if let before {
            evidence.connected = true
            evidence.downlinkMode = before.server.downlinkMode
            evidence.server = before.server
            evidence.agent = before.agent
            evidence.agentReportAt = before.agentAt?.timeIntervalSince1970
            diagnosis.pongRtt = before.server.counters.pongRttSummary
        }
        let conclusion = await gather(&evidence, epoch: pinned)
        diagnosis.verdict = conclusion.verdict
        diagnosis.summary = conclusion.summary
        // Set whenever a plain echo in the examined mode passed (meaningful for size-blackhole).
        diagnosis.largestPassedBytes = evidence.probes.filter { $0.passed && $0.shape == .plain && $0.encoding == evidence.downlinkMode.rawValue }.map(\.size).max()
        diagnosis.firstBadMessage = conclusion.firstBadMessage
        diagnosis.pongRttMs = evidence.pongRttMs
        diagnosis.probes = evidence.probes
        diagnosis.server = evidence.server
        diagnosis.agent = evidence.agent
        diagnosis.agentReportAt = evidence.agentReportAt.map { Date(timeIntervalSince1970: $0) }
        if let epoch = pinned, let after = await session.linkEvidence(epoch: epoch) {
            diagnosis.server = after.server
            diagnosis.agent = after.agent ?? diagnosis.agent
            diagnosis.agentReportAt = after.agentAt ?? diagnosis.agentReportAt
        }
        return await session.finishDiagnosis(diagnosis, conclusion: conclusion, evidence: evidence, epoch: before == nil ? nil : pinned)
    }

    /// Asks decide until it has a verdict, gathering each piece of evidence it names.
    private func gather(_ evidence: inout LinkEvidence, epoch: Int?) async -> LinkConclusion {
        // Every gather adds evidence decide did not have, so this ends; the bound is a backstop.
        for _ in 0..<64 {
            evidence.now = Date().timeIntervalSince1970
            switch LinkVerdict.decide(evidence) {
            case .verdict(let conclusion):
                return conclusion
            case .gather(let step):
                guard let epoch else {
                    return LinkConclusion(verdict: .agentOffline, stage: .session, summary: "the agent has no connection to this server")
                }
                await gather(step, into: &evidence, epoch: epoch)
                if let latest = await session.linkEvidence(epoch: epoch) { evidence.serverLatest = latest.server }
                evidence.oldestUnacked = await session.oldestUnackedWrite(epoch: epoch).map { UnackedWriteFact(bytes: $0.bytes, provenBefore: $0.provenBefore) }
            }
        }
        return LinkConclusion(verdict: .halfOpen, stage: .session, summary: "the diagnosis did not reach a verdict", action: .none)
    }

    private func gather(_ step: LinkGather, into evidence: inout LinkEvidence, epoch: Int) async {
        switch step {
        case .recheckWritability(let after):
            try? await Task.sleep(for: .milliseconds(Int(after * 1000)))
            // Absent (the connection went): a writable look, so decide moves on.
            evidence.serverRecheck = await session.linkEvidence(epoch: epoch)?.server ?? evidence.server.map { side in
                var writable = side
                writable.counters.isWritable = true
                return writable
            }
        case .ping(let timeout):
            evidence.pingSent = true
            evidence.pongRttMs = await session.pingAndWait(epoch: epoch, timeout: timeout)
        case .probe(let size, let encoding, let shape, let timeout):
            let rtt = await session.probe(epoch: epoch, size: size, encoding: encoding, shape: shape, timeout: timeout)
            evidence.probes.append(ProbeResult(size: size, encoding: encoding.rawValue, shape: shape, passed: rtt != nil, rttMs: rtt))
        case .agentReport(let timeout):
            evidence.agentReportAwaited = true
            if let (report, at) = await session.agentReport(since: Date(timeIntervalSince1970: evidence.startedAt), timeout: timeout) {
                evidence.agent = report
                evidence.agentReportAt = at.timeIntervalSince1970
            }
        }
    }
}
