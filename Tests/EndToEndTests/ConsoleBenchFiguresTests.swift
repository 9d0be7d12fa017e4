import Foundation
@testable import gururmm
import Testing

/// The console bench's pure parts: what it reads from a fleet page and a login, and its table.
@Suite("Console bench: page scan and figures")
struct ConsoleBenchFiguresTests {
    @Test("rows are counted and their ids read from their own tags, in page order")
    func rowsAndIds() {
        let html = """
            <table><tr><th>name</th></tr>
            <tr id="agent-a1" data-test="agent-row" data-agent="a1" data-status="online"><td>one</td></tr>
            <tr id="agent-b2" data-test="agent-row" data-status="offline"><td data-agent="not-this">two</td></tr>
            <tr id="agent-c3" data-test="agent-row" data-agent="c3" data-status="online"><td>three</td></tr>
            </table>
            """
        #expect(ConsolePageScan.rowCount(html) == 3)
        #expect(ConsolePageScan.agentIds(html) == ["a1", "c3"])
        #expect(ConsolePageScan.rowCount("<p>no agents</p>") == 0 && ConsolePageScan.agentIds("<p>no agents</p>").isEmpty)
    }

    @Test("the session cookie's value is read from Set-Cookie, and only that cookie's")
    func sessionCookie() {
        #expect(ConsolePageScan.cookie(named: "gururmm_session", in: "gururmm_session=abc.DEF-1; Path=/; HttpOnly; SameSite=Strict") == "abc.DEF-1")
        #expect(ConsolePageScan.cookie(named: "gururmm_session", in: "other=1; Path=/") == nil)
        #expect(ConsolePageScan.cookie(named: "gururmm_session", in: "gururmm_session=; Max-Age=0") == nil)
    }

    @Test("p95 is the nearest rank: the 19th of 20")
    func ninetyFifth() {
        let sample = Percentiles(Array((1...20).map(Double.init).reversed()))
        #expect(sample.p50 == 10 && sample.p95 == 19 && sample.max == 20 && sample.count == 20)
    }

    @Test("ratios have two decimals and a dash for no base; the table puts both windows, memory per agent and their ratio side by side")
    func table() {
        #expect(ConsoleBenchFigures.ratio(7.5, over: 5) == "1.50×")
        #expect(ConsoleBenchFigures.ratio(1, over: 0) == "—")
        #expect(ConsoleBenchFigures.grouped(1_234_567) == "1,234,567" && ConsoleBenchFigures.grouped(999) == "999")
        #expect(ConsoleBenchFigures.milliseconds(.nan) == "—")
        var figures = ConsoleBenchFigures(agents: 10_000, onlineSeconds: 9.5, pageLoads: 20, firstByte: Percentiles([0.02, 0.03]),
                                          fullBody: Percentiles([0.04, 0.05]), bodyBytes: 51_200, rows: 100, windowSeconds: 30)
        figures.baselineBytes = 20 << 20
        figures.chromiumSkipped = "chromium or chromedriver not found on PATH"
        // 100 MiB over a 20 MiB baseline is 8.2 KiB per agent; 220 MiB is 20.5 KiB, over the target.
        figures.idle = [.init(consoles: 0, cpuPercent: 4, residentBytes: 100 << 20, streamBytes: 0),
                        .init(consoles: 10, cpuPercent: 6, residentBytes: 220 << 20, streamBytes: 4_096)]
        let text = figures.render()
        #expect(text.contains("Chromium: **skipped** (chromium or chromedriver not found on PATH)"), "\(text)")
        #expect(text.contains("| first byte of the body | 20.0 ms | 30.0 ms | 30.0 ms | 51,200 bytes | 100 |"), "\(text)")
        #expect(text.contains("| 0 consoles | 4.0 % | 100.0 MiB | 8.2 KiB | 0 | met |"), "\(text)")
        #expect(text.contains("| 10 consoles | 6.0 % | 220.0 MiB | 20.5 KiB | 4,096 | **missed** |"), "\(text)")
        #expect(text.contains("| 10 ÷ 0 consoles | 1.50× | 2.20× | 2.50× | | |"), "\(text)")
    }

    static func load(firstRow: Double?, domInteractive: Double = 300, transfer: Int = 1_000) -> ChromiumPageLoad {
        ChromiumPageLoad(firstRow: firstRow, responseStart: 20, domInteractive: domInteractive, domContentLoaded: 310, load: 320, firstPaint: nil,
                         documentTransfer: 52_000, documentBody: 51_200, resources: 2, resourceTransfer: transfer, resourceBody: 9_000, rows: 100)
    }

    @Test("the browser's table: the first row's percentiles against the 1 s target, the page's size, the cold and warm transfer")
    func browserTable() {
        var figures = ConsoleBenchFigures(agents: 10_000, onlineSeconds: 9.5, pageLoads: 2, firstByte: Percentiles([0.02]),
                                          fullBody: Percentiles([0.04]), bodyBytes: 51_200, rows: 100, windowSeconds: 30)
        figures.chromium = ChromiumFigures(loads: [Self.load(firstRow: 150), Self.load(firstRow: 1_200, transfer: 0)])
        var text = figures.render()
        #expect(text.contains("| first agent row in the DOM | 150.0 ms | 1200.0 ms | 1200.0 ms | p95 < 1 s: **missed** |"), "\(text)")
        #expect(text.contains("| first contentful paint | — | — | — | — |"), "no paint reported: \(text)")
        #expect(text.contains("the document 51,200 bytes of HTML (52,000 on the wire), 100 rows of 10,000 agents"), "\(text)")
        #expect(text.contains("its 2 other requests 9,000 bytes as sent (first load: 1,000 on the wire, last: 0)"), "\(text)")
        // Without the observer the end of parsing stands in, and the label says so.
        figures.chromium = ChromiumFigures(loads: [Self.load(firstRow: nil, domInteractive: 400), Self.load(firstRow: 100)])
        text = figures.render()
        #expect(text.contains("(end of parsing: the observer was not installed) | 100.0 ms | 400.0 ms | 400.0 ms | p95 < 1 s: met |"), "\(text)")
    }

    @Test("a load's timings are read from the page's JSON; impossible or missing values are refused")
    func parseLoad() throws {
        let json = """
            {"firstRow":12.5,"responseStart":3.1,"domInteractive":40,"domContentLoaded":41,"load":55,"firstPaint":null,
             "documentTransfer":52000,"documentBody":51200,"resources":2,"resourceTransfer":0,"resourceBody":9000,"rows":100}
            """
        let load = try ChromiumPageLoad.parse(json)
        #expect(load.firstRow == 12.5 && load.firstPaint == nil && load.rows == 100 && load.firstRowOrParsed == 12.5)
        #expect(throws: BenchError.self) { try ChromiumPageLoad.parse(json.replacingOccurrences(of: "\"load\":55", with: "\"load\":-1")) }
        #expect(throws: BenchError.self) { try ChromiumPageLoad.parse(json.replacingOccurrences(of: "\"load\":55", with: "\"load\":1e300")) }
        #expect(throws: BenchError.self) { try ChromiumPageLoad.parse(json.replacingOccurrences(of: "\"rows\":100", with: "\"rows\":-5")) }
        #expect(throws: (any Error).self) { try ChromiumPageLoad.parse(json.replacingOccurrences(of: "\"load\":55", with: "\"load\":null")) }
        #expect(throws: (any Error).self) { try ChromiumPageLoad.parse(json.replacingOccurrences(of: "\"rows\":100", with: "\"rows\":1e30")) }
    }

    @Test("chromedriver's port is read from its start line, and only a real port")
    func driverPort() {
        #expect(ConsolePageScan.driverPort(inLog: "Starting ChromeDriver 156.0\nChromeDriver was started successfully on port 41235.\n") == 41_235)
        #expect(ConsolePageScan.driverPort(inLog: "ChromeDriver was started successfully on port 99999999999999999999999.") == nil)
        #expect(ConsolePageScan.driverPort(inLog: "ChromeDriver was started successfully on port 0.") == nil)
        #expect(ConsolePageScan.driverPort(inLog: "Starting ChromeDriver 156.0") == nil)
    }

    @Test("the browser and its driver come from CHROMIUM and CHROMEDRIVER, else the PATH; either missing means none")
    func findTools() throws {
        let directory = NSTemporaryDirectory() + "gururmm-tools-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for name in ["chromium", "chromedriver"] {
            _ = FileManager.default.createFile(atPath: directory + "/" + name, contents: Data("#!/bin/sh\n".utf8), attributes: [.posixPermissions: 0o755])
        }
        let found = BenchWebDriver.Tools.find(environment: ["PATH": "/nonexistent:" + directory])
        #expect(found == .init(chromium: directory + "/chromium", chromedriver: directory + "/chromedriver"))
        #expect(BenchWebDriver.Tools.find(environment: ["PATH": "/nonexistent"]) == nil)
        #expect(BenchWebDriver.Tools.find(environment: ["PATH": directory, "CHROMEDRIVER": "/nonexistent/chromedriver"]) == nil,
                "a named driver that is not there is not replaced by the PATH's")
    }
}
