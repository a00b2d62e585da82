import Foundation
import HTTPTypes
import Logging
import Synchronization
import TollgateCore

/// A local MCP server the gateway starts and speaks to over stdio (newline-delimited JSON-RPC). The gateway is
/// its one client: it runs the `initialize` handshake once, numbers every request itself (callers' ids may
/// collide) and restores the caller's id on the answer. A server that stops is started again on the next call.
public actor MCPStdioUpstream: MCPUpstream {
    public let command: [String]
    let timeoutSeconds: Double
    let maxLineBytes: Int
    let logger: Logger

    private var process: ChildProcess?
    private var input: FileHandle?
    private var nextId: Int64 = 1
    private var waiting: [Int64: CheckedContinuation<JSONRPCMessage, any Error>] = [:]
    /// The server's `initialize` result: what the gateway tells its own callers about the server.
    public private(set) var initializeResult: JSONValue?
    private var starting: Task<JSONValue, any Error>?
    /// One serial queue for the writes to the server's input, in order.
    private let writes = DispatchQueue(label: "tollgate.mcp.stdio.write")
    /// Bytes handed to `writes` and not yet written: a server that stops reading must not make them pile up.
    private let unwritten = UnwrittenBytes()

    /// The protocol version the gateway asks a stdio server for.
    public static let protocolVersion = "2025-06-18"

    public init(command: [String], timeoutSeconds: Double, maxLineBytes: Int, logger: Logger) {
        self.command = command
        self.timeoutSeconds = timeoutSeconds
        self.maxLineBytes = maxLineBytes
        self.logger = logger
    }

    public func call(_ request: JSONRPCMessage, callerFields: HTTPFields, contract: HTTPFields) async throws -> MCPAnswer {
        try await ensureStarted()
        let answer: JSONRPCMessage
        do {
            answer = try await send(request)
        } catch is Undelivered {
            // The server had closed its input before the call reached it (it died, and the gateway wrote before it saw
            // the exit): no server read the call, so it cannot run twice. A fresh server gets it, once.
            try await ensureStarted()
            answer = try await sendOnce(request)
        }
        return MCPAnswer(message: answer.with(id: request.id ?? .null))
    }

    /// A call whose line the server's input refused (a broken pipe): it reached no server.
    struct Undelivered: Error, CustomStringConvertible {
        let cause: any Error
        var description: String { "the MCP server does not read its input: \(cause)" }
    }

    /// Passes a notification on (progress, cancellation); nothing comes back.
    public func notify(_ notification: JSONRPCMessage) async throws {
        try await ensureStarted()
        try write(notification)
    }

    /// Starts the server and runs the handshake, once; returns the server's `initialize` result. Callers arriving
    /// while it starts wait for the same start (one process, one handshake).
    @discardableResult
    public func ensureStarted() async throws -> JSONValue {
        if let initializeResult, process?.isRunning == true { return initializeResult }
        if let starting { return try await starting.value }
        let start = Task { try await self.start() }
        starting = start
        defer { starting = nil }
        return try await start.value
    }

    private func start() async throws -> JSONValue {
        try launch()
        let hello = JSONRPCMessage(.object([
            "jsonrpc": .string("2.0"), "id": .null, "method": .string("initialize"),
            "params": .object([
                "protocolVersion": .string(Self.protocolVersion), "capabilities": .object([:]),
                "clientInfo": .object(["name": .string("tollgate"), "version": .string("1")]),
            ]),
        ]))
        // A server that does not finish the handshake is stopped: left running, it would keep its input open (the reader
        // thread holds it) and the next call would start another beside it, one more process per failed start.
        do {
            let answer = try await sendOnce(hello)
            guard let result = answer.result else {
                throw TollgateError(.upstreamUnavailable, "the MCP server refused the handshake: \(String(decoding: answer.bytes, as: UTF8.self))")
            }
            try write(JSONRPCMessage(.object(["jsonrpc": .string("2.0"), "method": .string("notifications/initialized")])))
            initializeResult = result
            return result
        } catch {
            stop()
            throw error
        }
    }

    /// Stops the server (at shutdown, or after it misbehaved); calls waiting for it fail.
    public func stop() {
        // Its input closed first: a server that waits for its next line sees the end of it and exits.
        try? input?.close()
        if let process, process.isRunning { process.terminate() }
        process = nil
        input = nil
        initializeResult = nil
        failAll(TollgateError(.upstreamUnavailable, "the MCP server stopped"))
    }

    private func send(_ request: JSONRPCMessage) async throws -> JSONRPCMessage {
        let id = nextId
        nextId += 1
        let numbered = request.with(id: .integer(id))
        let timeout = timeoutSeconds
        let timer = Task { [weak self] in
            try await Task.sleep(for: .milliseconds(Int64(timeout * 1000)))
            await self?.expire(id)
        }
        defer { timer.cancel() }
        return try await withCheckedThrowingContinuation { continuation in
            waiting[id] = continuation
            do {
                try write(numbered, failing: id)
            } catch {
                waiting.removeValue(forKey: id)?.resume(throwing: error)
            }
        }
    }

    /// `send` for a message that gets no second try: a broken pipe is the caller's error like any other.
    private func sendOnce(_ request: JSONRPCMessage) async throws -> JSONRPCMessage {
        do {
            return try await send(request)
        } catch let undelivered as Undelivered {
            throw TollgateError(.upstreamUnavailable, undelivered.description)
        }
    }

    private func expire(_ id: Int64) {
        waiting.removeValue(forKey: id)?.resume(throwing: TollgateError(.upstreamUnavailable, "the MCP server did not answer within \(Int(timeoutSeconds)) s"))
    }

    /// Writes the message on `writes`, off the caller's thread: a server that stops reading its input fills the pipe
    /// and blocks its writer, which must never be a thread of Swift concurrency's pool (one per core). A write that fails
    /// fails the call it carried (`failing`); one that blocks leaves the call to its timeout.
    private func write(_ message: JSONRPCMessage, failing id: Int64? = nil) throws {
        guard let input else { throw TollgateError(.upstreamUnavailable, "the MCP server is not running") }
        let line = Data(message.bytes + [UInt8(ascii: "\n")])
        // Memory stays bounded while a server does not read: once something waits, at most a few lines' worth more.
        guard unwritten.reserve(line.count, limit: 4 * maxLineBytes) else {
            throw TollgateError(.upstreamUnavailable, "the MCP server does not read its input (\(unwritten.count) bytes still waiting)")
        }
        let unwritten = self.unwritten
        let pid = process?.pid
        writes.async { [weak self] in
            defer { unwritten.release(line.count) }
            do {
                try input.write(contentsOf: line)
            } catch {
                guard let self else { return }
                Task { await self.writeFailed(id, pid: pid, error) }
            }
        }
    }

    /// A write the server's input refused: the server closed it (most often it died and its exit is not seen yet). It
    /// takes no more calls; the call this write carried did not reach it and is sent again to a fresh server.
    private func writeFailed(_ id: Int64?, pid: Int32?, _ error: any Error) {
        let carried = id.flatMap { waiting.removeValue(forKey: $0) }
        if let pid, process?.pid == pid {
            logger.warning("MCP server closed its input", metadata: ["tollgate.mcp.pid": "\(pid)"])
            stop()
        }
        carried?.resume(throwing: Undelivered(cause: error))
    }

    /// A write into the input of a server that died must fail as EPIPE, not kill the gateway with SIGPIPE. SwiftNIO
    /// ignores the signal once it opens a socket; a stdio upstream must not depend on a socket having been opened first.
    private static let ignoringBrokenPipes: Void = { _ = signal(SIGPIPE, SIG_IGN) }()

    private func launch() throws {
        guard let program = command.first else { throw TollgateError(.upstreamUnavailable, "no command to start the MCP server") }
        // Never two servers: one still running here (it stopped answering) is stopped before another starts.
        if process?.isRunning == true { stop() }
        Self.ignoringBrokenPipes
        // Its standard error is the gateway's: the server's own log lines go where the gateway's go.
        let process: ChildProcess
        do {
            process = try ChildProcess(command: command)
        } catch {
            throw TollgateError(.upstreamUnavailable, "cannot start the MCP server \(program): \(error)")
        }
        // The program alone: its arguments may carry a secret (`--token …`).
        logger.info("MCP server started", metadata: ["tollgate.mcp.command": "\(program)", "tollgate.mcp.arguments": "\(command.count - 1)", "tollgate.mcp.pid": "\(process.pid)"])
        self.process = process
        self.input = process.input
        let pid = process.pid
        process.readLines(maxLineBytes: maxLineBytes, { [weak self] line in
            if let self { Task { await self.received(line) } }
        }, ended: { [weak self] in
            if let self { Task { await self.ended(pid: pid) } }
        })
    }

    private func received(_ line: [UInt8]) {
        guard let (message, exact) = JSONRPCMessage.parseAnswer(line) else { return }
        if message.method == nil, let id = message.id, case .integer(let number) = id {
            // Every answer of a stdio server is written again from what the gateway read: never with other numbers.
            if exact {
                waiting.removeValue(forKey: number)?.resume(returning: message)
            } else {
                waiting.removeValue(forKey: number)?.resume(throwing: JSONRPCMessage.inexactAnswer)
            }
        } else if message.isRequest {
            // The server asks its client something (sampling, roots): the gateway has nothing to offer.
            try? write(.error(id: message.id, code: JSONRPCCode.methodNotFound, message: "the gateway does not serve \(message.method ?? "")"))
        }
    }

    private func ended(pid: Int32) {
        guard process?.pid == pid else { return }
        logger.warning("MCP server stopped", metadata: ["tollgate.mcp.pid": "\(pid)"])
        process = nil
        input = nil
        initializeResult = nil
        failAll(TollgateError(.upstreamUnavailable, "the MCP server stopped"))
    }

    private func failAll(_ error: TollgateError) {
        let pending = waiting
        waiting.removeAll()
        for continuation in pending.values { continuation.resume(throwing: error) }
    }
}

/// The bytes waiting to be written to a stdio server, shared with the queue that writes them.
final class UnwrittenBytes: Sendable {
    private let bytes = Mutex(0)

    var count: Int { bytes.withLock { $0 } }

    /// Takes `count` bytes into the count unless other bytes wait and the total would pass `limit`.
    func reserve(_ count: Int, limit: Int) -> Bool {
        bytes.withLock { waiting in
            guard waiting == 0 || waiting + count <= limit else { return false }
            waiting += count
            return true
        }
    }

    func release(_ count: Int) {
        bytes.withLock { $0 -= count }
    }
}
