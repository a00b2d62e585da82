#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// Random bytes from the operating system's generator, fetched 4 KiB at a time: `SystemRandomNumberGenerator` makes
/// one system call per eight bytes, and every 402 needs sixteen for its correlation id. Each byte is handed out once.
/// For identifiers only (correlation ids are shown to clients), never for keys.
final class RandomPool: Sendable {
    static let shared = RandomPool()

    private struct Pool {
        var bytes = [UInt8](repeating: 0, count: 4096)
        var next = 4096
    }

    private let pool = Mutex(Pool())

    /// Two random 64-bit words.
    func words() -> (UInt64, UInt64) {
        pool.withLock { pool in
            if pool.next + 16 > pool.bytes.count {
                pool.bytes.withUnsafeMutableBytes { Self.fill($0) }
                pool.next = 0
            }
            defer { pool.next += 16 }
            return pool.bytes.withUnsafeBytes { raw in
                (raw.loadUnaligned(fromByteOffset: pool.next, as: UInt64.self), raw.loadUnaligned(fromByteOffset: pool.next + 8, as: UInt64.self))
            }
        }
    }

    /// The kernel's generator, read in bulk (`getrandom` itself is not visible to Swift on Linux).
    private static let urandom: Int32 = open("/dev/urandom", O_RDONLY | O_CLOEXEC)

    private static func fill(_ buffer: UnsafeMutableRawBufferPointer) {
        #if canImport(Darwin)
        arc4random_buf(buffer.baseAddress!, buffer.count)
        #else
        var filled = 0
        while urandom >= 0, filled < buffer.count {
            let count = read(urandom, buffer.baseAddress! + filled, buffer.count - filled)
            if count > 0 { filled += count } else if count == 0 || errno != EINTR { break }
        }
        if filled == buffer.count { return }
        // No device: eight bytes at a time from the standard library's generator.
        var generator = SystemRandomNumberGenerator()
        for offset in stride(from: 0, to: buffer.count, by: 8) {
            buffer.storeBytes(of: generator.next() as UInt64, toByteOffset: offset, as: UInt64.self)
        }
        #endif
    }
}
