import Foundation
import RMMAPI
import RMMProtocol

extension ServerCore {
    /// Seconds an operator's diagnosis of an agent connected to another node may take there.
    static let remoteDiagnosisTimeout: Double = 60

    /// Has the node that holds the agent's connection run a link diagnosis (its probes need the
    /// connection), and returns it once that node stored it: the stored diagnosis is read until it
    /// differs from the one before the request (no clock is compared across nodes), for at most
    /// `timeout` seconds (then 504).
    func remoteDiagnosis(of agentId: String, timeout: Double) async throws -> LinkDiagnosis {
        let before = try await store.linkDiagnosis(agentId: agentId)
        await registry.signals.publish(.diagnose(agentId: agentId, requestId: CommandService.newId(prefix: "d_")))
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            // A bounded poll of one row: the other node's `batchChanged` hint does not say which agent.
            try await Task.sleep(for: .milliseconds(250))
            if let json = try await store.linkDiagnosis(agentId: agentId), json != before,
               let diagnosis = try? APICoding.decoder().decode(LinkDiagnosis.self, from: json) {
                return diagnosis
            }
        }
        throw RequestError(504, "the node holding agent \(agentId)'s connection did not store a diagnosis within \(Int(timeout)) s")
    }
}
