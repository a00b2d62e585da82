/// Reads the JSON-RPC messages of a `text/event-stream` body as the server-sent events format defines it: lines end
/// with CRLF, LF or CR alone; an event's `data` lines are joined by newlines and the event is complete at a blank line;
/// a leading byte order mark is dropped. It keeps the last event id and the reconnection delay a server names, which
/// resuming a stream it closed needs (`GET` with `Last-Event-ID`). Fed chunk by chunk, each byte read once.
public struct ServerSentEvents: Sendable {
    /// The id of the last event completed (an event with an id and no data, a server's priming event, counts).
    public private(set) var lastEventId: String?
    /// The reconnection delay in milliseconds the stream asked for (`retry:`), if any.
    public private(set) var retryMillis: Int?

    private var line: [UInt8] = []
    private var data: [UInt8] = []
    private var hasData = false
    /// The id named by the event being read (the format's "last event ID buffer"), taken at its blank line.
    private var idBuffer: String?
    private var afterCarriageReturn = false
    private var atStreamStart = true

    /// An id longer than this, or with a control character, is not kept: it could not travel back in a header.
    static let maxIdBytes = 1024

    public init() {}

    /// Appends a chunk; returns the data of every event completed by it.
    public mutating func feed(_ chunk: some Collection<UInt8>) -> [[UInt8]] {
        var events: [[UInt8]] = []
        for byte in chunk {
            if afterCarriageReturn {
                afterCarriageReturn = false
                if byte == UInt8(ascii: "\n") { continue }
            }
            switch byte {
            case UInt8(ascii: "\r"):
                afterCarriageReturn = true
                endLine(&events)
            case UInt8(ascii: "\n"):
                endLine(&events)
            default:
                line.append(byte)
            }
        }
        return events
    }

    /// The connection ended: an event not completed by its blank line is dropped (its id too), and the next connection
    /// (the stream resumed) starts a fresh line. The last event id and the delay are kept.
    public mutating func endOfStream() {
        line.removeAll()
        data.removeAll()
        hasData = false
        idBuffer = lastEventId
        afterCarriageReturn = false
        atStreamStart = true
    }

    private mutating func endLine(_ events: inout [[UInt8]]) {
        defer { line.removeAll(keepingCapacity: true) }
        var bytes = line[...]
        if atStreamStart {
            atStreamStart = false
            if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes = bytes.dropFirst(3) }
        }
        guard !bytes.isEmpty else { return dispatch(&events) }
        // `field: value`, or a field alone (an empty value); a line starting with `:` is a comment.
        let colon = bytes.firstIndex(of: UInt8(ascii: ":"))
        guard colon != bytes.startIndex else { return }
        let field = bytes[..<(colon ?? bytes.endIndex)]
        var value = colon.map { bytes[bytes.index(after: $0)...] } ?? bytes[bytes.endIndex...]
        if value.first == UInt8(ascii: " ") { value = value.dropFirst() }
        switch Field(field) {
        case .data:
            if hasData { data.append(UInt8(ascii: "\n")) }
            data.append(contentsOf: value)
            hasData = true
        case .id where !value.contains(0):
            // One that could not travel back in a header is left out: resuming after the id before it replays more.
            guard value.count <= Self.maxIdBytes, !value.contains(where: { $0 < 0x20 || $0 == 0x7F }) else { break }
            idBuffer = String(decoding: value, as: UTF8.self)
        case .retry where !value.isEmpty && value.count <= 9 && value.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }):
            retryMillis = Int(String(decoding: value, as: UTF8.self))
        default:
            break
        }
    }

    /// The fields read, compared as bytes (a line costs no string).
    private enum Field {
        case data, id, retry, other

        init(_ name: some Collection<UInt8>) {
            self = name.elementsEqual("data".utf8) ? .data : name.elementsEqual("id".utf8) ? .id
                : name.elementsEqual("retry".utf8) ? .retry : .other
        }
    }

    private mutating func dispatch(_ events: inout [[UInt8]]) {
        lastEventId = idBuffer.flatMap { $0.isEmpty ? nil : $0 }
        if hasData { events.append(data) }
        data.removeAll()
        hasData = false
    }
}
