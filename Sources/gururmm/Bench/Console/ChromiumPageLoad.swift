import Foundation

/// One load of the fleet page in headless Chromium, as the page's own timing reports it: times
/// in milliseconds from navigation start (the page's `timeOrigin`), sizes in bytes.
struct ChromiumPageLoad: Sendable, Equatable, Decodable {
    /// When the first agent row was in the DOM (a `MutationObserver` installed before the page's
    /// own scripts), or nil when the observer could not be installed.
    var firstRow: Double?
    /// The first byte of the document's response.
    var responseStart: Double
    /// The document parsed: every server-rendered row is in the DOM by then.
    var domInteractive: Double
    var domContentLoaded: Double
    var load: Double
    /// First contentful paint, when Chromium reported one.
    var firstPaint: Double?
    /// The document's bytes on the wire (headers and body) and its body decoded.
    var documentTransfer: Int
    var documentBody: Int
    /// The page's other requests (script, styles): how many finished, their bytes on the wire (0
    /// for what the cache served) and their bodies as sent, cached or not.
    var resources: Int
    var resourceTransfer: Int
    var resourceBody: Int
    /// Agent rows in the DOM once loaded.
    var rows: Int

    /// When the first row is known to have been in the DOM: the observer's time, else (an upper
    /// bound) the end of parsing.
    var firstRowOrParsed: Double { firstRow ?? domInteractive }

    /// Reads the script's JSON; refuses a time that is not a finite, non-negative number under an
    /// hour and a size or count that is negative, rather than averaging nonsense.
    static func parse(_ json: String) throws -> ChromiumPageLoad {
        let load = try JSONDecoder().decode(ChromiumPageLoad.self, from: Data(json.utf8))
        let times = [load.firstRow, load.responseStart, load.domInteractive, load.domContentLoaded, load.load, load.firstPaint].compactMap { $0 }
        guard times.allSatisfy({ $0.isFinite && $0 >= 0 && $0 < 3_600_000 }) else { throw BenchError("the page reported impossible times: \(json)") }
        guard [load.documentTransfer, load.documentBody, load.resources, load.resourceTransfer, load.resourceBody, load.rows].allSatisfy({ $0 >= 0 }) else {
            throw BenchError("the page reported negative sizes: \(json)")
        }
        return load
    }

    /// Installed with `Page.addScriptToEvaluateOnNewDocument`: notes `performance.now()` (ms since
    /// navigation start) the first time an agent row is in the document. Mutation records are
    /// delivered at the parser's microtask checkpoints, so the time is at most a little late.
    static let observerScript = """
        (() => {
          const selector = '[data-test="agent-row"]';
          const mark = () => {
            if (window.__gururmmBenchFirstRow === undefined && document.querySelector(selector)) {
              window.__gururmmBenchFirstRow = performance.now();
            }
            return window.__gururmmBenchFirstRow !== undefined;
          };
          if (mark()) return;
          const observer = new MutationObserver(() => { if (mark()) observer.disconnect(); });
          observer.observe(document, { childList: true, subtree: true });
        })();
        """

    /// Run once the page has loaded: its Navigation Timing, first paint and resources as JSON.
    static let readScript = """
        const nav = performance.getEntriesByType('navigation')[0];
        const paint = performance.getEntriesByType('paint').find(e => e.name === 'first-contentful-paint');
        const resources = performance.getEntriesByType('resource');
        const first = window.__gururmmBenchFirstRow;
        return JSON.stringify({
          firstRow: typeof first === 'number' ? first : null,
          responseStart: nav.responseStart, domInteractive: nav.domInteractive,
          domContentLoaded: nav.domContentLoadedEventEnd, load: nav.loadEventEnd,
          firstPaint: paint ? paint.startTime : null,
          documentTransfer: nav.transferSize, documentBody: nav.decodedBodySize,
          resources: resources.length, resourceTransfer: resources.reduce((sum, r) => sum + r.transferSize, 0),
          resourceBody: resources.reduce((sum, r) => sum + r.encodedBodySize, 0),
          rows: document.querySelectorAll('[data-test="agent-row"]').length
        });
        """
}

/// What N loads of the fleet page in Chromium come to, for the table.
struct ChromiumFigures: Sendable {
    var loads: [ChromiumPageLoad]
    /// Whether every load's first-row time came from the observer (else some are end of parsing).
    var observed: Bool { loads.allSatisfy { $0.firstRow != nil } }

    /// Percentiles in seconds of one timing over the loads.
    func seconds(_ time: (ChromiumPageLoad) -> Double?) -> Percentiles {
        Percentiles(loads.compactMap(time).map { $0 / 1000 })
    }
}

extension ConsolePageScan {
    /// The port in chromedriver's "ChromeDriver was started successfully on port N." line.
    static func driverPort(inLog log: String) -> Int? {
        for line in log.split(separator: "\n") where line.contains("started successfully on port") {
            let digits = line.split(separator: " ").last.map { $0.filter(\.isNumber) } ?? ""
            if let port = Int(digits), (1...65_535).contains(port) { return port }
        }
        return nil
    }
}
