import RMMProtocol
import Testing

@testable import RMMServer

/// The rules of `PUT /config`: the version sent, `min_version`, the maximum, and the config's own problems.
@Suite struct FleetConfigRulesTests {
    private func refusal(_ proposed: AgentConfig, current: AgentConfig, minimumVersion: Int = 1) -> RequestError? {
        do {
            _ = try FleetConfigRules.next(proposed, current: current, minimumVersion: minimumVersion)
            return nil
        } catch let error as RequestError {
            return error
        } catch {
            return RequestError(500, "unexpected \(error)")
        }
    }

    private func config(version: Int) -> AgentConfig {
        var config = AgentConfig.defaults
        config.version = version
        return config
    }

    @Test("the version sent is replaced by the current one (the store saves one above)")
    func versionFromCurrent() throws {
        let next = try FleetConfigRules.next(config(version: 1), current: config(version: 7), minimumVersion: 1)
        #expect(next.version == 7)
        #expect(try FleetConfigRules.next(config(version: 99), current: config(version: 7), minimumVersion: 1).version == 7)
    }

    @Test("min_version moves the saved version past the agents' after a restore, never back")
    func minimumVersion() throws {
        #expect(try FleetConfigRules.next(config(version: 1), current: config(version: 3), minimumVersion: 50).version == 49)
        #expect(try FleetConfigRules.next(config(version: 1), current: config(version: 80), minimumVersion: 50).version == 80)
    }

    @Test("a version no config can have is 400; a version at its maximum is 409")
    func versionBounds() {
        for version in [0, -1, WireRange.maxCount + 1] {
            let error = refusal(config(version: version), current: config(version: 1))
            #expect(error?.status == 400)
            #expect(error?.message == "version must be 1...\(WireRange.maxCount) (it is then replaced by the next version)")
        }
        let full = refusal(config(version: 1), current: config(version: WireRange.maxCount))
        #expect(full?.status == 409)
        #expect(full?.message == "the config version is at its maximum (\(WireRange.maxCount))")
    }

    @Test("a config agents would refuse is 400 listing every problem")
    func problems() {
        var bad = config(version: 1)
        bad.heartbeatInterval = 0
        bad.maxConcurrentCommands = 1000
        let error = refusal(bad, current: config(version: 1))
        #expect(error?.status == 400)
        #expect(error?.message.hasPrefix("config rejected: ") == true)
        #expect(error?.message.contains("heartbeat_interval must be 1...3600 seconds") == true)
        #expect(error?.message.contains("max_concurrent_commands must be 1...256") == true)
    }
}
