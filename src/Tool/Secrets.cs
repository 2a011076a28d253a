namespace ConsulLock.Aop.Tool;

/// <summary>
/// The ACL tokens this run may know of, and the one filter every line the tool writes goes through, so that no token
/// reaches a terminal or a log: not from an error message, a parse error echoing an argument, or Consul's answer.
/// </summary>
/// <remarks>
/// Known before parsing, from the raw arguments: the value of <c>--token</c> (also <c>--token=...</c>) and of
/// <c>CONSUL_HTTP_TOKEN</c>. A misspelt option (<c>--tokn SECRET</c>) is not known to the parser, which would quote its
/// value as an unrecognised argument; so the argument after any unrecognised option (and the value inside
/// <c>--tokn=SECRET</c>) is treated as a secret too.
/// </remarks>
internal sealed class Secrets
{
    private const string Mask = "<redacted>";
    private readonly List<string> _values = [];

    public Secrets(IReadOnlyList<string> arguments, string? environmentToken)
    {
        Add(environmentToken);
        for (var i = 0; i < arguments.Count; i++)
        {
            var argument = arguments[i];
            if (argument == ToolOptions.TokenName && i + 1 < arguments.Count)
            {
                Add(arguments[i + 1]);
            }
            else if (argument.StartsWith(ToolOptions.TokenName + "=", StringComparison.Ordinal) ||
                     argument.StartsWith(ToolOptions.TokenName + ":", StringComparison.Ordinal))
            {
                Add(argument[(ToolOptions.TokenName.Length + 1)..]);
            }
        }
    }

    /// <summary>Treats the argument after each unrecognised option of <paramref name="unmatched"/> as a secret (see remarks).</summary>
    public void AddValuesAfterUnknownOptions(IReadOnlyList<string> arguments, IEnumerable<string> unmatched)
    {
        var unknown = unmatched.Where(token => token.StartsWith('-')).ToHashSet(StringComparer.Ordinal);
        foreach (var option in unknown)
        {
            // "--tokn=SECRET" and "--tokn:SECRET" carry their value in themselves.
            if (option.IndexOfAny(['=', ':']) is > 0 and var at)
            {
                Add(option[(at + 1)..]);
            }
        }

        for (var i = 0; i + 1 < arguments.Count; i++)
        {
            if (unknown.Contains(arguments[i]))
            {
                Add(arguments[i + 1]);
            }
        }
    }

    /// <summary><paramref name="text"/> with every known secret replaced by a mask.</summary>
    public string Redact(string text)
    {
        foreach (var value in _values)
        {
            text = text.Replace(value, Mask, StringComparison.Ordinal);
        }

        return text;
    }

    private void Add(string? value)
    {
        if (!string.IsNullOrEmpty(value) && !_values.Contains(value, StringComparer.Ordinal))
        {
            _values.Add(value);
            // Longest first, so that a token containing another is masked whole.
            _values.Sort((a, b) => b.Length.CompareTo(a.Length));
        }
    }
}
