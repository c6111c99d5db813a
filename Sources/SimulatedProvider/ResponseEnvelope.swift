import Foundation

/// The fields every Response object the simulated provider serves carries, as
/// the official SDKs' types require them (`created_at`, `model`,
/// `parallel_tool_calls`, `tool_choice`, `tools`, ...): one builder for the
/// stream's lifecycle events, retrieves, cancels and the fast model's answers,
/// so no path serves a response a real client would reject.
struct ResponseEnvelope: Sendable {
    var id: String
    var model: String
    var createdAt: Int
    var background: Bool
    /// The research model's web search tool; none for the fast model.
    var webSearch: Bool

    func object(status: String, output: [[String: Any]] = [], usage: Any = NSNull(), error: Any = NSNull(), incomplete: Any = NSNull()) -> [String: Any] {
        ["id": id, "object": "response", "created_at": createdAt, "status": status, "background": background, "model": model,
         "error": error, "incomplete_details": incomplete, "instructions": NSNull(), "metadata": [String: String](), "output": output,
         "parallel_tool_calls": true, "temperature": 1, "top_p": 1, "tool_choice": "auto",
         "tools": webSearch ? [["type": "web_search_preview", "search_context_size": "medium"]] : [[String: Any]](),
         "truncation": "disabled", "usage": usage]
    }
}
