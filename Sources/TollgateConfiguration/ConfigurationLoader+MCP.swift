import Yams

extension ConfigurationLoader {
    /// `mcp:` (path, upstream `url` or `command` (none: in process), timeouts); its `tools` are read as routes by `readRoutes(tools: true)`.
    static func readMCP(_ node: Node?, _ r: inout YAMLReader) -> MCPConfiguration? {
        guard let fields = r.mapping(node, "mcp", known: ["path", "upstream", "tools"]) else { return nil }
        let path = r.string(fields["path"], "mcp.path") ?? "/mcp"
        if !path.hasPrefix("/") || path.contains("?") { r.fail(fields["path"], "mcp.path", "expected a path such as /mcp") }
        guard let upstream = r.mapping(fields["upstream"], "mcp.upstream", known: ["url", "command", "timeout_seconds", "max_response_bytes", "max_event_streams",
                                                                                  "max_event_streams_per_caller", "max_passed_requests",
                                                                                  "max_passed_requests_per_caller"]) else {
            // No upstream: the tools run in process (`TollgateMCPServer`); `tollgate mcp` refuses such a file.
            return fields["upstream"] == nil ? MCPConfiguration(path: path, upstream: nil) : nil
        }
        let url = r.string(upstream["url"], "mcp.upstream.url")
        let command = r.strings(upstream["command"], "mcp.upstream.command")
        let reached: MCPConfiguration.Upstream
        switch (url, command) {
        case (let url?, nil):
            if !isHTTPURL(url) { r.fail(upstream["url"], "mcp.upstream.url", "expected an http(s) URL") }
            reached = .http(url: url)
        case (nil, let command?) where !command.isEmpty:
            reached = .command(command)
        case (nil, _?):
            r.fail(upstream["command"], "mcp.upstream.command", "name the program to start, then its arguments")
            return nil
        default:
            r.fail(fields["upstream"], "mcp.upstream", "needs exactly one of url or command")
            return nil
        }
        let timeout = Double(r.int(upstream["timeout_seconds"], "mcp.upstream.timeout_seconds", range: 1...3600) ?? 30)
        let maxBytes = r.int(upstream["max_response_bytes"], "mcp.upstream.max_response_bytes", range: 1024...(1 << 30)) ?? 8 << 20
        let streams = r.int(upstream["max_event_streams"], "mcp.upstream.max_event_streams", range: 0...100_000) ?? 256
        let passed = r.int(upstream["max_passed_requests"], "mcp.upstream.max_passed_requests", range: 1...100_000) ?? 64
        let streamsPerCaller = share(upstream["max_event_streams_per_caller"], "mcp.upstream.max_event_streams_per_caller",
                                     of: streams, named: "max_event_streams", &r)
        let passedPerCaller = share(upstream["max_passed_requests_per_caller"], "mcp.upstream.max_passed_requests_per_caller",
                                    of: passed, named: "max_passed_requests", &r)
        return MCPConfiguration(path: path, upstream: reached, timeoutSeconds: timeout, maxResponseBytes: maxBytes, maxEventStreams: streams,
                                maxEventStreamsPerCaller: streamsPerCaller, maxPassedRequests: passed, maxPassedRequestsPerCaller: passedPerCaller)
    }

    /// One caller's share of a bound: 1 up to the bound itself (more would mean nothing); absent, a quarter of it.
    private static func share(_ node: Node?, _ path: String, of limit: Int, named name: String, _ r: inout YAMLReader) -> Int? {
        guard let share = r.int(node, path, range: 1...100_000) else { return nil }
        if share > limit, limit > 0 {
            r.fail(node, path, "one caller's share cannot be more than \(name) (\(limit))")
            return nil
        }
        return share
    }
}
