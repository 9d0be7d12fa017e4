import Foundation

/// Finds the executable product `name` (e.g. "gururmm") built alongside the running tests.
///
/// An environment variable `<NAME>_BINARY` (so `GURURMM_BINARY` for gururmm) overrides the
/// search. Otherwise SwiftPM's layout is used: the test bundle
/// `.build/<triple>/debug/<Package>PackageTests.xctest` sits in the same directory as the
/// executables. Returns nil if nothing executable is found.
public func locateProductBinary(_ name: String) -> String? {
    let environment = ProcessInfo.processInfo.environment
    if let override = environment[binaryOverrideVariable(for: name)], !override.isEmpty {
        return isExecutableFile(override) ? override : nil
    }
    for directory in buildProductDirectories() {
        let candidate = (directory as NSString).appendingPathComponent(name)
        if isExecutableFile(candidate) {
            return candidate
        }
    }
    return nil
}

/// "gururmm" -> "GURURMM_BINARY"; dashes become underscores so the name is a valid variable.
func binaryOverrideVariable(for name: String) -> String {
    name.uppercased().replacingOccurrences(of: "-", with: "_") + "_BINARY"
}

/// Directories that may hold the build products, most reliable first.
///
/// Each source can mislead in some setup: on Linux the test runner is the `.xctest` file itself
/// (so `/proc/self/exe` is right), on macOS it is Xcode's `xctest` tool and only the loaded
/// bundle's path points into `.build`, and `argv[0]` may be relative or a symlink.
private func buildProductDirectories() -> [String] {
    var paths: [String] = []
    if let executable = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
        paths.append(executable)
    }
    paths.append(contentsOf: Bundle.allBundles.map(\.bundlePath).filter { $0.hasSuffix(".xctest") })
    paths.append(Bundle.main.bundlePath)
    if let argument = CommandLine.arguments.first {
        paths.append(argument)
    }
    var directories: [String] = []
    for path in paths {
        for directory in candidateDirectories(for: path) where !directories.contains(directory) {
            directories.append(directory)
        }
    }
    return directories
}

/// The directory containing `path`, and the one containing any `.xctest` bundle on the way up,
/// because on macOS the binary sits deep inside the bundle (`X.xctest/Contents/MacOS/X`).
private func candidateDirectories(for path: String) -> [String] {
    let absolute = URL(fileURLWithPath: path).standardizedFileURL.resolvingSymlinksInPath()
    var directories = [absolute.deletingLastPathComponent().path]
    var current = absolute
    while current.pathComponents.count > 1 {
        if current.pathExtension == "xctest" {
            directories.append(current.deletingLastPathComponent().path)
            break
        }
        current = current.deletingLastPathComponent()
    }
    return directories
}

private func isExecutableFile(_ path: String) -> Bool {
    var isDirectory: ObjCBool = false
    return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
        && !isDirectory.boolValue
        && FileManager.default.isExecutableFile(atPath: path)
}
