import Foundation
import Testing

/// Where Debian's `chromium` and `chromium-driver` put the browser and its driver; a test that
/// needs them is skipped, saying why, when they are missing (failed under GURURMM_REQUIRE_TOOLS=1).
public enum BrowserTools {
    static let chromiumCandidates = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"]
    static let driverCandidates = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]

    /// The browser's and the driver's paths; `CHROMIUM` and `CHROMEDRIVER` override them.
    public static func require() throws -> (chromium: String, chromedriver: String) {
        let environment = ProcessInfo.processInfo.environment
        let chromium = find(environment["CHROMIUM"], chromiumCandidates)
        let driver = find(environment["CHROMEDRIVER"], driverCandidates)
        if let chromium, let driver { return (chromium, driver) }
        let why = "needs headless Chromium and chromedriver (apt-get install chromium chromium-driver)"
        if environment["GURURMM_REQUIRE_TOOLS"] == "1" { throw WebDriverError(command: "launch", error: "GURURMM_REQUIRE_TOOLS=1", message: why) }
        try Test.cancel(Comment(rawValue: why))
    }

    private static func find(_ override: String?, _ candidates: [String]) -> String? {
        if let override, !override.isEmpty { return FileManager.default.isExecutableFile(atPath: override) ? override : nil }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}
