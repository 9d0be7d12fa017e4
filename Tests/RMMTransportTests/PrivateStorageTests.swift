import Foundation
import RMMTestSupport
import RMMTransport
import Testing

/// Private directories and secret files: who may hold them, and how they are read and written.
@Suite("Private storage")
struct PrivateStorageTests {
    @Test("a directory writable by its group or others, or owned by another user, is refused with the reason")
    func directoryRule() {
        #expect(PrivateStorage.directoryProblem(path: "/d", mode: 0o40700, owner: 5, user: 5) == nil)
        #expect(PrivateStorage.directoryProblem(path: "/d", mode: 0o40755, owner: 5, user: 5) == nil)
        let group = PrivateStorage.directoryProblem(path: "/d", mode: 0o40770, owner: 5, user: 5)
        #expect(group?.contains("writable by its group") == true)
        #expect(group?.contains("chmod 700 /d") == true)
        #expect(PrivateStorage.directoryProblem(path: "/d", mode: 0o41777, owner: 5, user: 5)?.contains("writable by its group and other users") == true)
        #expect(PrivateStorage.directoryProblem(path: "/d", mode: 0o40702, owner: 5, user: 5)?.contains("other users") == true)
        #expect(PrivateStorage.directoryProblem(path: "/d", mode: 0o40700, owner: 6, user: 5)?.contains("owned by user 6") == true)
    }

    @Test("prepareDirectory creates 0700 directories and refuses a group-writable one")
    func prepare() throws {
        let base = try freeTemporaryDirectory(prefix: "gururmm-private")
        let fresh = base + "/a/b"
        try PrivateStorage.prepareDirectory(fresh, what: "state directory")
        #expect(try FileManager.default.attributesOfItem(atPath: fresh)[.posixPermissions] as? Int == 0o700)
        chmod(fresh, 0o770)
        #expect {
            try PrivateStorage.prepareDirectory(fresh, what: "state directory")
        } throws: { error in
            "\(error)".contains("refusing to use state directory") && "\(error)".contains("writable by its group")
        }
        let file = base + "/plain"
        _ = FileManager.default.createFile(atPath: file, contents: Data())
        #expect(throws: PrivateStorageError.self) { try PrivateStorage.prepareDirectory(file, what: "data directory") }
    }

    @Test("readIfPresent: nil only for a missing file; a directory is an error naming it")
    func read() throws {
        let base = try freeTemporaryDirectory(prefix: "gururmm-private")
        #expect(try PrivateStorage.readIfPresent(base + "/missing") == nil)
        try PrivateStorage.write(Data("secret\n".utf8), to: base + "/key")
        #expect(try PrivateStorage.readIfPresent(base + "/key") == Data("secret\n".utf8))
        try FileManager.default.createDirectory(atPath: base + "/dir", withIntermediateDirectories: false)
        #expect {
            try PrivateStorage.readIfPresent(base + "/dir")
        } throws: { error in
            "\(error)".contains(base + "/dir") && "\(error)".contains("not a regular file")
        }
    }

    @Test("write creates 0600 through O_EXCL: a planted symlink at the temp name is removed, not followed")
    func writeRefusesSymlink() throws {
        let base = try freeTemporaryDirectory(prefix: "gururmm-private")
        let victim = base + "/victim"
        _ = FileManager.default.createFile(atPath: victim, contents: Data("untouched".utf8))
        try FileManager.default.createSymbolicLink(atPath: base + "/key.tmp", withDestinationPath: victim)
        try PrivateStorage.write(Data("new".utf8), to: base + "/key")
        #expect(FileManager.default.contents(atPath: victim) == Data("untouched".utf8))
        #expect(FileManager.default.contents(atPath: base + "/key") == Data("new".utf8))
        #expect(try FileManager.default.attributesOfItem(atPath: base + "/key")[.posixPermissions] as? Int == 0o600)
        #expect(!FileManager.default.fileExists(atPath: base + "/key.tmp"))
    }

    @Test("ensurePrivateFile creates an empty 0600 file, and takes group and other bits off an existing one")
    func ensurePrivate() throws {
        let base = try freeTemporaryDirectory(prefix: "gururmm-private")
        try PrivateStorage.ensurePrivateFile(base + "/db")
        #expect(try FileManager.default.attributesOfItem(atPath: base + "/db")[.posixPermissions] as? Int == 0o600)
        _ = FileManager.default.createFile(atPath: base + "/old", contents: Data("x".utf8), attributes: [.posixPermissions: 0o644])
        try PrivateStorage.ensurePrivateFile(base + "/old")
        #expect(try FileManager.default.attributesOfItem(atPath: base + "/old")[.posixPermissions] as? Int == 0o600)
        #expect(FileManager.default.contents(atPath: base + "/old") == Data("x".utf8))
    }

    @Test("loopback hosts: localhost, 127.0.0.0/8, ::1; anything else is not")
    func loopback() {
        for host in ["localhost", "LOCALHOST", "127.0.0.1", "127.1.2.3", "::1", "[::1]", "0:0:0:0:0:0:0:1", "::ffff:127.0.0.1", "localhost."] {
            #expect(LoopbackHost.contains(host), "\(host)")
        }
        for host in ["192.0.2.1", "10.0.0.1", "128.0.0.1", "::2", "example.com", "localhost.example.com", "127.0.0.1.nip.io", "", "0.0.0.0"] {
            #expect(!LoopbackHost.contains(host), "\(host)")
        }
    }
}

@Suite("Private storage: links")
struct PrivateStorageLinkTests {
    @Test("a symbolic link to a file that does not exist is not 'absent': reading it is an error naming the link")
    func danglingLinkIsNotAbsent() throws {
        let directory = try freeTemporaryDirectory(prefix: "gururmm-link")
        let path = directory + "/signing.key"
        try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: directory + "/unmounted/signing.key")
        #expect(throws: PrivateStorageError.self) { _ = try PrivateStorage.readIfPresent(path) }
        do {
            _ = try PrivateStorage.readIfPresent(path)
        } catch {
            #expect("\(error)".contains("symbolic link to a file that does not exist"))
        }
        #expect(try PrivateStorage.readIfPresent(directory + "/absent") == nil)
    }
}
