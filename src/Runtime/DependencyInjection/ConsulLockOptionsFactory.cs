using Microsoft.Extensions.Options;

namespace ConsulLock.Aop.DependencyInjection;

/// <summary>
/// Creates <see cref="ConsulLockOptions"/> as .NET's own factory does, except that when .NET's configuration binder
/// fails to read a value (<c>section.Bind(o)</c> inside <c>AddConsulLocking(o =&gt; ...)</c>,
/// <c>services.Configure&lt;ConsulLockOptions&gt;(section)</c>), the host stops with an
/// <see cref="OptionsValidationException"/> that says why and what to write instead, as for every other bad setting,
/// rather than with the binder's bare <see cref="InvalidOperationException"/>. The binder reads a <see cref="TimeSpan"/>
/// only as "00:00:10", so the durations our documentation writes ("10s") are the usual cause.
/// </summary>
internal sealed class ConsulLockOptionsFactory(
    IEnumerable<IConfigureOptions<ConsulLockOptions>> setups,
    IEnumerable<IPostConfigureOptions<ConsulLockOptions>> postConfigures,
    IEnumerable<IValidateOptions<ConsulLockOptions>> validations) : IOptionsFactory<ConsulLockOptions>
{
    // The reflection-based binder's assembly, the Source of the exceptions it throws.
    private const string BinderAssembly = "Microsoft.Extensions.Configuration.Binder";

    // How the source-generated binder (EnableConfigurationBindingGenerator) words its failure, from the user's assembly.
    private const string GeneratedBinderMessage = "Failed to convert configuration value";

    private readonly OptionsFactory<ConsulLockOptions> _factory = new(setups, postConfigures, validations);

    public ConsulLockOptions Create(string name)
    {
        try
        {
            return _factory.Create(name);
        }
        catch (InvalidOperationException ex) when (IsBinderFailure(ex))
        {
            throw new OptionsValidationException(name, typeof(ConsulLockOptions), [Explain(ex)]);
        }
    }

    private static bool IsBinderFailure(InvalidOperationException ex) =>
        ex.InnerException is not null
        && (ex.Source == BinderAssembly || ex.Message.StartsWith(GeneratedBinderMessage, StringComparison.Ordinal));

    private static string Explain(InvalidOperationException ex)
    {
        // The binder's message names the path and type; its inner exception names the value.
        var what = ex.Message.TrimEnd('.') + ": " + ex.InnerException!.Message.TrimEnd('.');
        var duration = ex.Message.Contains(typeof(TimeSpan).FullName!, StringComparison.Ordinal)
            ? ". .NET's configuration binder (section.Bind(options), section.Get<ConsulLockOptions>(), " +
              "services.Configure<ConsulLockOptions>(section)) reads a TimeSpan only as \"00:00:10\", not in Consul's notation (\"10s\")"
            : ". .NET's configuration binder (section.Bind(options), section.Get<ConsulLockOptions>(), " +
              "services.Configure<ConsulLockOptions>(section)) could not read it";
        return what + duration +
            ". Let ConsulLock.Aop read the section, which takes both notations and names every bad value: call " +
            "services.AddConsulLocking(section, options => ...), which reads it and then applies your changes, " +
            "or options.Bind(section) in place of section.Bind(options)";
    }
}
