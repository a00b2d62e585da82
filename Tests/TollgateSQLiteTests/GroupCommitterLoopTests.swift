import NIOCore
import NIOPosix
import Testing
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
