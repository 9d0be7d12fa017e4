import Foundation
import RMMProtocol
import RMMStore
import RMMTransport

/// The agent port's side of `gururmm doctor`: a probe session on a connection that never
/// authenticates. The enrollment token is checked (known, not revoked, not expired, uses left)
/// but not used; a refusal is the enrollment refusal (4001) and counts against the address. The
/// session then echoes `probe` messages in the connection's downlink mode, answers pings, and
/// closes normally after `DoctorLimits.lifetimeSeconds`. Everything before authentication still
/// holds: the connection keeps its unauthenticated slot, its input budget
/// (`WireLimits.maxUnauthenticatedBytes` in all, so the echoes, never larger than what came in,
/// stay within it too) and refuses chunked messages.
extension AgentHandshake {
    /// `handshakeTimer` still runs while the token is checked (a stalled store read must not hold
    /// the slot past the handshake deadline); the session's own lifetime replaces it after.
    func runProbeSession(_ link: WebSocketLink, _ doctor: DoctorHello, events: inout LinkEvents.Iterator, slot: ConnectionSlot,
                         handshakeTimer: Task<Void, any Error>) async {
        guard let tokens else {
            refuse(link, .authenticationFailed, "this server does not serve probe sessions", from: slot)
            return
        }
        // Looked up by the SHA-256 of the secret, as enrollment does: how long the look-up takes
        // says nothing about how much of a guessed secret was right.
        let hash = CommandService.sha256Hex(EnrollmentToken(parsing: doctor.token).secret)
        do {
            guard let token = try await tokens.enrollmentToken(hash: hash) else {
                refuse(link, .authenticationFailed, "enrollment refused: \(StoreError.enrollmentTokenUnknown.description)", from: slot)
                return
            }
            if let refusal = token.refusal(now: Date()) {
                refuse(link, .authenticationFailed, "enrollment refused: \(refusal.description)", from: slot)
                return
            }
        } catch StoreError.unavailable(let why) {
            refuseForNow(link, why, from: slot)
            return
        } catch {
            refuse(link, .internalError, "the token could not be checked on the server", from: slot)
            logger.error("probe session token check failed: \(error)")
            return
        }
        handshakeTimer.cancel()
        let lifetime = Task {
            try await Task.sleep(for: .seconds(DoctorLimits.lifetimeSeconds))
            link.close(.normal, reason: "probe session over after \(Int(DoctorLimits.lifetimeSeconds)) s")
        }
        defer { lifetime.cancel() }
        link.allowProbeMessages(DoctorLimits.maxEchoes)
        let left = max(0, WireLimits.maxUnauthenticatedBytes - link.counters.dataBytesIn)
        link.send(Envelope(.doctorReady(DoctorReady(budgetBytes: left, lifetimeSeconds: DoctorLimits.lifetimeSeconds, maxEchoes: DoctorLimits.maxEchoes))))
        logger.info("probe session (gururmm doctor) from \(link.remoteDescription)", metadata: ["downlink": "\(link.sendMode.rawValue)"])
        while let event = await events.next() {
            let envelopes: [Envelope]
            switch event {
            case .message(let envelope): envelopes = [envelope]
            case .messages(let batch): envelopes = batch
            case .closed: return
            }
            for envelope in envelopes {
                link.markHandled()
                guard case .probe(let probe) = envelope.message else {
                    refuse(link, .protocolError, "a probe session carries only 'probe' messages, not '\(envelope.message.type)'", from: slot)
                    return
                }
                // The same envelope back, in this connection's downlink mode.
                link.send(Envelope(.probe(probe)))
            }
        }
    }
}
