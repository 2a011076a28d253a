using System.Collections.Generic;
using System.Text;

namespace ConsulLock.Aop.Generators.Parsing;

/// <summary>
/// A key template split into literal text and placeholders: <c>webhook_receiver/{id}</c> or
/// <c>webhook_receiver/&lt;id&gt;</c>, with <c>{order.Customer.Id}</c> following members, and doubled
/// <c>{{ }} &lt;&lt; &gt;&gt;</c> standing for the character itself.
/// </summary>
internal sealed class KeyTemplate
{
    private KeyTemplate(List<Token> tokens, string? error, int errorStart, int errorLength)
    {
        Tokens = tokens;
        Error = error;
        ErrorStart = errorStart;
        ErrorLength = errorLength;
    }

    public IReadOnlyList<Token> Tokens { get; }

    /// <summary>What is malformed, or null; <see cref="ErrorStart"/> and <see cref="ErrorLength"/> point into the template.</summary>
    public string? Error { get; }

    public int ErrorStart { get; }

    public int ErrorLength { get; }

    /// <param name="IsPlaceholder">A placeholder (its path in <paramref name="Text"/>) or literal text.</param>
    /// <param name="Start">Where the token starts in the template, braces included.</param>
    /// <param name="Length">How long the token is in the template, braces included.</param>
    /// <param name="Format">A placeholder's format, the text after its first ':' (<c>{day:yyyy-MM-dd}</c>), or null.</param>
    public readonly record struct Token(bool IsPlaceholder, string Text, int Start, int Length, string? Format = null)
    {
        public string[] Path => Text.Split('.');
    }

    public static KeyTemplate Parse(string template)
    {
        var tokens = new List<Token>();
        var literal = new StringBuilder();
        var literalStart = 0;
        var i = 0;
        while (i < template.Length)
        {
            var c = template[i];
            var isOpen = c is '{' or '<';
            var isClose = c is '}' or '>';
            if (!isOpen && !isClose)
            {
                literal.Append(c);
                i++;
                continue;
            }

            if (i + 1 < template.Length && template[i + 1] == c)
            {
                literal.Append(c);
                i += 2;
                continue;
            }

            if (isClose)
            {
                return Fail(tokens, $"'{c}' closes no placeholder; write '{c}{c}' for the character itself", i, 1);
            }

            var close = c == '{' ? '}' : '>';
            var end = template.IndexOf(close, i + 1);
            if (end < 0)
            {
                return Fail(tokens, $"the placeholder opened by '{c}' is not closed by '{close}'", i, template.Length - i);
            }

            var content = template.Substring(i + 1, end - i - 1);
            var colon = content.IndexOf(':');
            var path = colon < 0 ? content : content.Substring(0, colon);
            var format = colon < 0 ? null : content.Substring(colon + 1);
            if (!IsMemberPath(path))
            {
                return Fail(
                    tokens,
                    path.Length == 0
                        ? "a placeholder is empty; name a parameter, as in '{id}'"
                        : $"'{c}{content}{close}' is not a parameter name or a member path such as 'order.Customer.Id', optionally followed by ':' and a format",
                    i,
                    end - i + 1);
            }

            if (literal.Length > 0)
            {
                tokens.Add(new Token(false, literal.ToString(), literalStart, i - literalStart));
                literal.Clear();
            }

            tokens.Add(new Token(true, path, i, end - i + 1, format));
            i = end + 1;
            literalStart = i;
        }

        if (literal.Length > 0)
        {
            tokens.Add(new Token(false, literal.ToString(), literalStart, template.Length - literalStart));
        }

        var problem = FindStructureProblem(tokens);
        return problem is null
            ? new KeyTemplate(tokens, null, 0, 0)
            : Fail(tokens, problem, 0, template.Length);
    }

    private static KeyTemplate Fail(List<Token> tokens, string error, int start, int length) => new(tokens, error, start, length);

    /// <summary>The rules of a lock key that the literal text alone can break; placeholder values are escaped at run time.</summary>
    private static string? FindStructureProblem(List<Token> tokens)
    {
        if (tokens.Count == 0)
        {
            return "the key is empty";
        }

        // Each placeholder becomes one non-empty segment piece, so stand it in with a character that is never a separator.
        var shape = new StringBuilder();
        foreach (var token in tokens)
        {
            shape.Append(token.IsPlaceholder ? "\u0001" : token.Text);
        }

        var text = shape.ToString();
        if (text[0] == '/')
        {
            return "the key starts with '/'";
        }

        if (text[text.Length - 1] == '/')
        {
            return "the key ends with '/'";
        }

        if (text.Contains("//"))
        {
            return "the key has an empty segment ('//')";
        }

        foreach (var segment in text.Split('/'))
        {
            if (segment is "." or "..")
            {
                return $"the key has a '{segment}' segment";
            }

            if (segment == ".consullock-queue")
            {
                // The runtime's QueueLayout.Segment: the queues of waiting processes live under it, beside each lock key.
                return "the key has a '.consullock-queue' segment, which is kept for the queues of waiting processes";
            }
        }

        return null;
    }

    private static bool IsMemberPath(string path)
    {
        if (path.Length == 0)
        {
            return false;
        }

        foreach (var part in path.Split('.'))
        {
            if (part.Length == 0 || !(char.IsLetter(part[0]) || part[0] == '_' || part[0] == '@'))
            {
                return false;
            }

            for (var i = 1; i < part.Length; i++)
            {
                if (!(char.IsLetterOrDigit(part[i]) || part[i] == '_'))
                {
                    return false;
                }
            }
        }

        return true;
    }
}
