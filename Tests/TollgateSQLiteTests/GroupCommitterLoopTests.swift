import Dispatch
import Foundation
import GRDB
import NIOCore
import NIOPosix
import Synchronization
import Testing
import TollgateCore
@testable import TollgateSQLite

/// Where a write's caller is answered: on the shared event loop it runs on, so that its task goes on where its
/// connections are, and nowhere a stopped loop could drop the answer.
@Suite struct GroupCommitterLoopTests {
    @Test func aCallerOnASharedLoopIsAnsweredThere() async throws {
        for loop in [MultiThreadedEventLoopGroup.singleton.next(), MultiThreadedEventLoopGroup.singleton.next()] {
            let found = try await loop.submit { GroupCommitter.callersLoop }.get()
            #expect(found === loop)
        }
    }

    @Test func aCallerElsewhereIsAnsweredWhereverItsTaskRuns() async throws {
        #expect(GroupCommitter.callersLoop == nil)
        // A loop of another group may be shut down before the answer comes: never answered through it.
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let found = try await group.next().submit { GroupCommitter.callersLoop }.get()
        #expect(found == nil)
        try await group.shutdownGracefully()
    }
}

extension GroupCommitterLoopTests {
    @Test func aWritesAnswerIsGivenOnItsCallersLoop() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-loop-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let committer = GroupCommitter(writer: try DatabasePool(path: directory.appendingPathComponent("t.sqlite").path),
                                       durable: false, answeringLoop: { loop })
        // The caller's loop is kept busy: the write commits, and its caller is answered only once the loop is free.
        let release = DispatchSemaphore(value: 0)
        let busy = loop.submit { release.wait() }
        let answered = Answered()
        let writing = Task {
            try await committer.write { db in try db.execute(sql: "CREATE TABLE t (x)") }
            answered.set()
        }
        try await GroupCommitTests.waitUntil { committer.statistics.commits == 1 }
        // A moment for an answer given anywhere else to arrive (it would arrive at once).
        try await Task.sleep(for: .milliseconds(50))
        #expect(!answered.value)
        release.signal()
        try await writing.value
        #expect(answered.value)
        try await busy.get()
        try await group.shutdownGracefully()
    }
}

/// Whether a write's caller was answered.
final class Answered: Sendable {
    private let answered = Mutex(false)
    var value: Bool { answered.withLock { $0 } }
    func set() { answered.withLock { $0 = true } }
}
