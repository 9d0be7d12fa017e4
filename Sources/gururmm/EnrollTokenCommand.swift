import ArgumentParser
import Foundation
import RMMServer

/// `gururmm enroll-token create`: prints a one-time enrollment token.
struct EnrollTokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "enroll-token", abstract: "Manage agent enrollment tokens.", subcommands: [Create.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create an enrollment token and print it.")
        @OptionGroup var api: APIOptions
        @Option(name: .customLong("expires"), help: "How long it is valid: 30m, 24h, 7d, or seconds.")
        var expires: String = "24h"
        @Option(name: .customLong("uses"), help: "How many agents may enroll with it.")
        var uses: Int = 1

        func run() async throws {
            let seconds = try parseDuration(expires, flag: "--expires")
            let view: EnrollmentTokenView = try await api.client().post("/api/v1/enrollment-tokens", body: EnrollmentTokenRequest(expiresSeconds: seconds, uses: uses))
            print(view.token ?? "")
        }
    }
}

/// Parses "90", "90s", "30m", "24h", "7d" into seconds.
func parseDuration(_ text: String, flag: String) throws -> Double {
    let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86_400]
    var number = Substring(text)
    var factor = 1.0
    if let last = text.last, let unit = units[last] {
        number = number.dropLast()
        factor = unit
    }
    guard let value = Double(number), value > 0 else {
        throw ValidationError("\(flag) must be a duration like 90s, 30m, 24h or 7d (got '\(text)')")
    }
    return value * factor
}
