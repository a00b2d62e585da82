import Foundation
import HTTPTypes
import Logging
import Testing
import TollgateCore
import TollgateMCP

/// A local MCP server over stdio, as the gateway meets it: callers numbered by the gateway, one handshake for
/// many callers, and a server that dies in the middle of a call.
@Suite struct MCPStdioUpstreamTests {
    /// A stdio MCP server in a few lines of Python: answers the handshake and `tools/call`; with `die` as the tool
    /// name it exits without answering (a crash in the middle of a paid call).
    static let server = """
    import json, sys
    for line in sys.stdin:
        m = json.loads(line)
        if "id" not in m: continue
        if m["method"] == "initialize":
            r = {"protocolVersion": m["params"]["protocolVersion"], "capabilities": {"tools": {}}, "serverInfo": {"name": "py", "version": "1"}}
        elif m["params"].get("name") == "die":
            sys.exit(3)
        else:
            r = {"content": [{"type": "text", "text": "ran " + json.dumps(m["params"].get("arguments"))}], "isError": False}
        print(json.dumps({"jsonrpc": "2.0", "id": m["id"], "result": r}), flush=True)
    """

    static func upstream(timeout: Double = 30) -> MCPStdioUpstream {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return MCPStdioUpstream(command: ["python3", "-c", server], timeoutSeconds: timeout, maxLineBytes: 1 << 20, logger: logger)
    }

    static func call(_ id: JSONValue, tool: String) -> JSONRPCMessage {
        JSONRPCMessage(.object(["jsonrpc": .string("2.0"), "id": id, "method": .string("tools/call"),
                                "params": .object(["name": .string(tool), "arguments": .object(["n": id])])]))
    }

    @Test func callersKeepTheirOwnIdsThoughTheirIdsCollide() async throws {
        let upstream = Self.upstream()
        defer { Task { await upstream.stop() } }
        // Two callers both numbering their request 1, at once: each gets its own answer back under its own id.
        async let first = upstream.call(Self.call(.integer(1), tool: "a"), callerFields: [:], contract: [:])
        async let second = upstream.call(Self.call(.integer(1), tool: "b"), callerFields: [:], contract: [:])
        let answers = try await [first, second]
        #expect(answers.allSatisfy { $0.message.id == .integer(1) })
        #expect(answers.compactMap { $0.message.result?["content"] }.count == 2)
        let named = try await upstream.call(Self.call(.string("x"), tool: "a"), callerFields: [:], contract: [:])
        #expect(named.message.id == .string("x"))
        #expect(await upstream.initializeResult?["serverInfo"]?["name"] == .string("py"))
    }

    /// A server that never finishes the handshake (a slow first start, a wrong program) is stopped after each failed
    /// start, by its signal: never one more process left running per call.
    @Test func aServerThatNeverAnswersTheHandshakeIsStoppedNotLeftRunning() async throws {
        let pids = FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-stdio-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: pids) }
        // It never reads its input, so only a signal stops it (or its parent's end: a test process that crashed must not
        // leave it holding the test runner's output); it notes how many signals it was started with blocked.
        let silent = """
        import os, signal, sys, time
        open(sys.argv[1], 'a').write('%d %d\\n' % (os.getpid(), len(signal.pthread_sigmask(signal.SIG_BLOCK, []))))
        parent = os.getppid()
        while os.getppid() == parent: time.sleep(0.2)
        """
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let upstream = MCPStdioUpstream(command: ["python3", "-c", silent, pids], timeoutSeconds: 1, maxLineBytes: 1 << 20, logger: logger)
        for _ in 0..<2 {
            await #expect(throws: TollgateError.self) { try await upstream.ensureStarted() }
        }
        let lines = try String(contentsOfFile: pids, encoding: .utf8).split(separator: "\n").map { $0.split(separator: " ") }
        let started = lines.compactMap { $0.first.flatMap { Int32($0) } }
        // Whatever the outcome, none outlives the test (one left running would hold the test runner's output open).
        defer { for pid in started { kill(pid, SIGKILL) } }
        #expect(started.count == 2)
        // Started with no signal blocked (the threads of Swift concurrency block nearly all: SIGTERM never arrived).
        #expect(lines.allSatisfy { $0.last == "0" })
        // Both gone (or ended and waiting to be reaped) before anything else stops them.
        func running(_ pid: Int32) -> Bool {
            guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return false }
            return !status.contains("State:\tZ")
        }
        let deadline = ContinuousClock.now + .seconds(30)
        while started.contains(where: running), ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        #expect(!started.contains(where: running))
        await upstream.stop()
    }

    /// The gateway ignores SIGPIPE (a write to a server that died must fail, not kill it); a server must not inherit
    /// that, nor any descriptor of the gateway's but its standard three. A shell notes what it started with.
    @Test func aServerStartsWithDefaultSignalHandlersAndOnlyItsStandardDescriptors() async throws {
        let noted = FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-stdio-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: noted) }
        // An inheritable descriptor of the gateway's, as a library might leave one (numbered past any the shell uses).
        let opened = open("/dev/null", O_RDONLY)
        let leaked = fcntl(opened, F_DUPFD, 200)
        close(opened)
        defer { close(leaked) }
        #expect(leaked >= 200)
        let script = #"grep SigIgn /proc/$$/status > "$0"; ls /proc/$$/fd >> "$0"; exec sleep 30"#
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let upstream = MCPStdioUpstream(command: ["sh", "-c", script, noted], timeoutSeconds: 1, maxLineBytes: 1024, logger: logger)
        await #expect(throws: TollgateError.self) { try await upstream.ensureStarted() }
        await upstream.stop()
        let lines = try String(contentsOfFile: noted, encoding: .utf8).split(separator: "\n")
        let ignored = try #require(lines.first.flatMap { UInt64($0.split(separator: "\t").last ?? "", radix: 16) })
        #expect(ignored & (1 << (UInt64(SIGPIPE) - 1)) == 0, "SigIgn \(String(ignored, radix: 16))")
        // The shell's descriptors: its standard three and a few of its own (below 20), none of the gateway's.
        let descriptors = Set(lines.dropFirst().compactMap { Int32($0) })
        #expect(descriptors.isSuperset(of: [0, 1, 2]))
        #expect(!descriptors.contains(leaked) && descriptors.allSatisfy { $0 < 20 }, "\(descriptors.sorted())")
    }

    @Test func aServerThatDiesFailsTheCallAndIsStartedAgain() async throws {
        let upstream = Self.upstream()
        defer { Task { await upstream.stop() } }
        await #expect(throws: TollgateError.self) {
            try await upstream.call(Self.call(.integer(1), tool: "die"), callerFields: [:], contract: [:])
        }
        // The next call starts a fresh server (and handshake) and is answered.
        let after = try await upstream.call(Self.call(.integer(2), tool: "a"), callerFields: [:], contract: [:])
        #expect(after.message.result?["isError"] == .bool(false))
    }

    /// The race behind a server's death: the gateway writes the next call before it has seen the exit. Here the server
    /// closes its input and lives on, so the next call always meets a broken pipe: it reached no server, so a fresh
    /// server gets it (one handshake more) and runs it once; the old server is stopped.
    @Test func aCallWrittenToAClosedInputGoesToAFreshServerOnce() async throws {
        let closing = """
        import json, os, sys, time
        for line in sys.stdin:
            m = json.loads(line)
            if "id" not in m: continue
            if m["method"] == "initialize":
                r = {"protocolVersion": m["params"]["protocolVersion"], "capabilities": {"tools": {}}, "serverInfo": {"name": str(os.getpid()), "version": "1"}}
            else:
                r = {"content": [{"type": "text", "text": m["params"]["name"] + " by " + str(os.getpid())}], "isError": False}
            closing = m["method"] == "tools/call" and m["params"]["name"] == "close"
            # The input is closed before the answer is sent: the gateway's next write can only meet a broken pipe.
            if closing: os.close(0)
            print(json.dumps({"jsonrpc": "2.0", "id": m["id"], "result": r}), flush=True)
            if closing:
                parent = os.getppid()
                for _ in range(150):
                    if os.getppid() != parent: break
                    time.sleep(0.2)
        """
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let upstream = MCPStdioUpstream(command: ["python3", "-c", closing], timeoutSeconds: 30, maxLineBytes: 1 << 20, logger: logger)
        defer { Task { await upstream.stop() } }
        func text(_ answer: MCPAnswer) -> String? {
            answer.message.result?["content"]?.array?.first?["text"]?.string
        }
        let first = try await upstream.call(Self.call(.integer(1), tool: "close"), callerFields: [:], contract: [:])
        let firstServer = await upstream.initializeResult?["serverInfo"]?["name"]
        #expect(text(first) == "close by \(firstServer?.string ?? "?")")
        let second = try await upstream.call(Self.call(.integer(2), tool: "after"), callerFields: [:], contract: [:])
        let secondServer = await upstream.initializeResult?["serverInfo"]?["name"]
        #expect(secondServer != nil && secondServer != firstServer)
        #expect(text(second) == "after by \(secondServer?.string ?? "?")")
        #expect(second.message.id == .integer(2))
    }

    /// A server that answers the handshake, then stops reading its input: a call larger than the pipe's buffer blocks
    /// its writer. The caller gets the timeout, no thread that runs tasks is held by the blocked write, and what waits
    /// to be written stays bounded (a call that would pass the bound is refused at once).
    @Test func aServerThatStopsReadingTimesOutAndHoldsNoCaller() async throws {
        let deaf = """
        import json, os, sys, time
        m = json.loads(sys.stdin.readline())
        r = {"protocolVersion": m["params"]["protocolVersion"], "capabilities": {"tools": {}}, "serverInfo": {"name": "deaf", "version": "1"}}
        print(json.dumps({"jsonrpc": "2.0", "id": m["id"], "result": r}), flush=True)
        parent = os.getppid()
        for _ in range(300):
            if os.getppid() != parent: break
            time.sleep(0.2)
        """
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        // Lines of up to 256 KiB: at most 1 MiB may wait for a server that does not read. 3 s: the handshake, which must
        // succeed, has the same timeout (python's start on a loaded machine); each of the first two calls waits it out.
        let upstream = MCPStdioUpstream(command: ["python3", "-c", deaf], timeoutSeconds: 3, maxLineBytes: 1 << 18, logger: logger)
        defer { Task { await upstream.stop() } }
        func call(_ size: Int) -> JSONRPCMessage {
            JSONRPCMessage(.object(["jsonrpc": .string("2.0"), "id": .integer(1), "method": .string("tools/call"),
                                    "params": .object(["name": .string("a"), "arguments": .object(["blob": .string(String(repeating: "x", count: size))])])]))
        }
        var failures: [String] = []
        // 600 KB fills the pipe and blocks; then 300 KB waits behind it; then 300 KB more would pass 1 MiB.
        for size in [600_000, 300_000, 300_000] {
            let error = await #expect(throws: TollgateError.self) { try await upstream.call(call(size), callerFields: [:], contract: [:]) }
            #expect(error?.code == .upstreamUnavailable)
            failures.append(error?.message ?? "")
        }
        #expect(failures[0].contains("did not answer within"))
        #expect(failures[1].contains("did not answer within"))
        // Each failure names its cause: had a call waited for the server instead, it would have ended only when the
        // server exits (after 60 s) and said so. No bound on the elapsed time: under a loaded machine it says nothing.
        #expect(failures[2].contains("does not read its input"))
        #expect(await upstream.initializeResult?["serverInfo"]?["name"] == .string("deaf"))
    }

    @Test func aCommandThatCannotStartIsAClearError() async throws {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let upstream = MCPStdioUpstream(command: ["/nonexistent/mcp-server"], timeoutSeconds: 2, maxLineBytes: 1024, logger: logger)
        let error = await #expect(throws: TollgateError.self) {
            try await upstream.call(Self.call(.integer(1), tool: "a"), callerFields: [:], contract: [:])
        }
        #expect(error?.code == .upstreamUnavailable)
    }

    /// A caller's cancellation names a request by the caller's own id; the server numbers requests by the gateway's.
    /// Passed on, `notifications/cancelled {requestId: 1}` would cancel whichever caller's call the gateway numbered 1
    /// (a paid one among them); it stays at the gateway. Other notifications reach the server.
    @Test func aCallersCancellationNeverReachesTheServer() async throws {
        let noting = """
        import json, sys
        seen = []
        for line in sys.stdin:
            m = json.loads(line)
            if "id" not in m:
                seen.append(m["method"]); continue
            if m["method"] == "initialize":
                r = {"protocolVersion": m["params"]["protocolVersion"], "capabilities": {"tools": {}}, "serverInfo": {"name": "py", "version": "1"}}
            else:
                r = {"content": [{"type": "text", "text": json.dumps(seen)}], "isError": False}
            print(json.dumps({"jsonrpc": "2.0", "id": m["id"], "result": r}), flush=True)
        """
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let endpoint = MCPStdioEndpoint(upstream: MCPStdioUpstream(command: ["python3", "-c", noting], timeoutSeconds: 30, maxLineBytes: 1 << 20,
                                                                   logger: logger))
        defer { Task { await endpoint.upstream.stop() } }
        _ = try #require(await endpoint.handle(Self.call(.integer(1), tool: "first")))
        for method in ["notifications/cancelled", "notifications/roots/list_changed"] {
            let notification = JSONRPCMessage(.object(["jsonrpc": .string("2.0"), "method": .string(method),
                                                       "params": .object(["requestId": .integer(1)])]))
            #expect(await endpoint.handle(notification) == nil)
        }
        let seen = try #require(await endpoint.handle(Self.call(.integer(2), tool: "notes")))
        guard case .array(let content)? = seen.result?["content"] else { Issue.record("no content: \(seen)"); return }
        // The gateway's own handshake, then what callers sent: the cancellation is not among them.
        #expect(content.first?["text"] == .string(#"["notifications/initialized", "notifications/roots/list_changed"]"#))
    }

    @Test func theGatewayAnswersCallersHandshakesFromTheServersOwn() async throws {
        let endpoint = MCPStdioEndpoint(upstream: Self.upstream())
        defer { Task { await endpoint.upstream.stop() } }
        let hello = JSONRPCMessage(.object(["jsonrpc": .string("2.0"), "id": .integer(9), "method": .string("initialize"),
                                            "params": .object(["protocolVersion": .string("2025-11-25")])]))
        let answer = try #require(await endpoint.handle(hello))
        #expect(answer.result?["protocolVersion"] == .string("2025-11-25"))
        #expect(answer.result?["serverInfo"]?["name"] == .string("py"))
        let discover = try #require(await endpoint.handle(JSONRPCMessage(.object(["jsonrpc": .string("2.0"), "id": .integer(1), "method": .string("server/discover")]))))
        #expect(discover.error?["code"] == .integer(Int64(JSONRPCCode.methodNotFound)))
        #expect(await endpoint.handle(JSONRPCMessage(.object(["jsonrpc": .string("2.0"), "method": .string("notifications/initialized")]))) == nil)
    }
}
