import Foundation
import RMMProtocol
import RMMStore

/// The fleet's agent config: checks a new one (`FleetConfigRules`), saves it with its audit
/// entry, and pushes it to every session.
struct FleetConfigService: Sendable {
    let store: any SettingsStore
    let registry: SessionRegistry

    var current: AgentConfig {
        get async { await registry.currentConfig }
    }

    /// Saves `proposed` as the next version (at least `minimumVersion`) and pushes it to the agents.
    func update(_ proposed: AgentConfig, minimumVersion: Int, by actor: AuditActor, now: Date) async throws -> AgentConfig {
        let config = try FleetConfigRules.next(proposed, current: await registry.currentConfig, minimumVersion: minimumVersion)
        let saved = try await store.saveConfig(config) { saved in
            actor.entry("config.update", targets: [], detail: "config version \(saved.version)", at: now)
        }
        // Pushing wakes every session's delivery: the agents' work (`StoreLane`), not the operator's.
        await StoreLane.$current.withValue(.agents) { await registry.push(config: saved) }
        if registry.clustered { await registry.signals.publish(.config(version: saved.version)) }
        return saved
    }
}
