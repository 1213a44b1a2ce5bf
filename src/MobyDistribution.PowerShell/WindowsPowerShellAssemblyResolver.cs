using System;
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
    /// .NET Framework has no binding redirects for powershell.exe, so when System.Text.Json asks for, say,
    /// System.Runtime.CompilerServices.Unsafe 4.0.4.1 and the folder holds 6.0.0.0, the load fails. The handler answers
    /// such requests by simple name, and only for assemblies that ship beside the module.
    /// </remarks>
    public sealed class WindowsPowerShellAssemblyResolver : IModuleAssemblyInitializer, IModuleAssemblyCleanup
    {
        private static readonly object Gate = new object();
        private static readonly Dictionary<string, Assembly> Loaded = new Dictionary<string, Assembly>(StringComparer.OrdinalIgnoreCase);
        private static HashSet<string>? _bundled;
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
                _bundled = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
                foreach (var file in Directory.GetFiles(_folder, "*.dll"))
                {
                    var name = Path.GetFileNameWithoutExtension(file);
                    if (!name.StartsWith("MobyDistribution.", StringComparison.OrdinalIgnoreCase)) _bundled.Add(name);
                }
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

        private static Assembly? Resolve(object? sender, ResolveEventArgs args)
        {
            var name = new AssemblyName(args.Name).Name;
            if (name == null) return null;
            lock (Gate)
            {
                if (_bundled == null || _folder == null || !_bundled.Contains(name)) return null;
                if (Loaded.TryGetValue(name, out var assembly)) return assembly;
                var path = Path.Combine(_folder, name + ".dll");
                if (!File.Exists(path)) return null;
                assembly = Assembly.LoadFrom(path);
                Loaded[name] = assembly;
                return assembly;
            }
        }
    }
}
