import Dispatch

/// File work that may block (a write, a sync, a rename) run on a Dispatch worker instead of the caller's thread:
/// `tollgate` runs Swift concurrency on SwiftNIO's event loops, and a loop that waits for a disk stalls every connection
/// it serves.
public enum BlockingIO {
    public static func run<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global(qos: .utility).async {
                continuation.resume(with: Result { try work() })
            }
        }
    }
}
