using System;
using System.Collections;
using System.Collections.Generic;
using System.IO;
using System.Management.Automation;
using System.Reflection;

namespace MobyDistribution.PowerShell
{
    /// <summary>
    /// On Windows PowerShell 5.1 (.NET Framework), loads the module's own copies of System.Text.Json and its
    /// dependencies from the module folder. On PowerShell 7 it does nothing: .NET resolves them itself.
    /// </summary>
    /// <remarks>
    /// .NET Framework has no binding redirects for powershell.exe, so when System.Text.Json asks for, say, System.Memory
    /// 4.0.1.2 and the folder holds 4.0.2.0, the load fails. The handler answers such a request only for an assembly the
    /// module ships (same name, same public key token) and only when the version asked for is at or below the shipped
    /// one: a request for a newer version is another module's, which this copy cannot serve, and is left to that module's
    /// own resolver or to fail as it would without this one. docs/dependencies.md has the table of what references what.
    /// </remarks>
    public sealed class WindowsPowerShellAssemblyResolver : IModuleAssemblyInitializer, IModuleAssemblyCleanup
    {
        private static readonly object Gate = new object();
        private static readonly Dictionary<string, Assembly> Loaded = new Dictionary<string, Assembly>(StringComparer.OrdinalIgnoreCase);
        private static Dictionary<string, AssemblyName>? _bundled;
        private static string? _folder;
        private static bool _hooked;

        /// <summary>True on .NET Framework, where mscorlib is the core library.</summary>
        private static bool IsNetFramework => string.Equals(typeof(object).Assembly.GetName().Name, "mscorlib", StringComparison.Ordinal);

        /// <inheritdoc />
        public void OnImport()
        {
            if (!IsNetFramework) return;
            lock (Gate)
            {
                if (_hooked) return;
                var self = typeof(WindowsPowerShellAssemblyResolver).Assembly;
                _folder = Path.GetDirectoryName(self.Location)!;
                _bundled = ReadBundled(_folder);
                AppDomain.CurrentDomain.AssemblyResolve += Resolve;
                _hooked = true;
            }
        }

        /// <inheritdoc />
        public void OnRemove(PSModuleInfo psModuleInfo)
        {
            lock (Gate)
            {
                if (!_hooked) return;
                AppDomain.CurrentDomain.AssemblyResolve -= Resolve;
                _hooked = false;
            }
        }

        /// <summary>The identities of the dependency DLLs in <paramref name="folder"/> (the module's own assemblies load without help).</summary>
        internal static Dictionary<string, AssemblyName> ReadBundled(string folder)
        {
            var bundled = new Dictionary<string, AssemblyName>(StringComparer.OrdinalIgnoreCase);
            foreach (var file in Directory.GetFiles(folder, "*.dll"))
            {
                var name = Path.GetFileNameWithoutExtension(file);
                if (name.StartsWith("MobyDistribution.", StringComparison.OrdinalIgnoreCase)) continue;
                try { bundled[name] = AssemblyName.GetAssemblyName(file); }
                catch (Exception e) when (e is BadImageFormatException || e is IOException || e is UnauthorizedAccessException) { }
            }
            return bundled;
        }

        /// <summary>
        /// Whether a failed load of <paramref name="requested"/> is this module's to answer with its copy, <paramref name="shipped"/>:
        /// same simple name, the same public key token when the request names one, and a requested version at or below the
        /// shipped one (a request without a version is a partial name and matches).
        /// </summary>
        internal static bool ShouldAnswer(AssemblyName requested, AssemblyName? shipped)
        {
            if (shipped == null || requested.Name == null) return false;
            if (!string.Equals(requested.Name, shipped.Name, StringComparison.OrdinalIgnoreCase)) return false;
            var token = requested.GetPublicKeyToken();
            if (token != null && token.Length > 0)
            {
                var have = shipped.GetPublicKeyToken() ?? Array.Empty<byte>();
                if (!((IStructuralEquatable)token).Equals(have, StructuralComparisons.StructuralEqualityComparer)) return false;
            }
            return requested.Version == null || shipped.Version == null || requested.Version <= shipped.Version;
        }

        private static Assembly? Resolve(object? sender, ResolveEventArgs args)
        {
            AssemblyName requested;
            try { requested = new AssemblyName(args.Name); }
            catch (Exception e) when (e is ArgumentException || e is FileLoadException) { return null; }
            if (requested.Name == null) return null;
            lock (Gate)
            {
                if (_bundled == null || _folder == null || !_bundled.TryGetValue(requested.Name, out var shipped)) return null;
                if (!ShouldAnswer(requested, shipped)) return null;
                if (Loaded.TryGetValue(requested.Name, out var assembly)) return assembly;
                var path = Path.Combine(_folder, requested.Name + ".dll");
                if (!File.Exists(path)) return null;
                assembly = Assembly.LoadFrom(path);
                Loaded[requested.Name] = assembly;
                return assembly;
            }
        }
    }
}
