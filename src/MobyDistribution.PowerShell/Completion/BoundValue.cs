using System.Collections;
using System.Management.Automation;

namespace MobyDistribution.PowerShell
{
    /// <summary>
    /// Values already on the command line, as PowerShell's completion hands them over (fakeBoundParameters): only
    /// literal values are there, so a string, or an object a variable held.
    /// </summary>
    internal static class BoundValue
    {
        public static string? Text(IDictionary? bound, params string[] names)
        {
            foreach (var name in names)
            {
                if (bound == null || !bound.Contains(name)) continue;
                var value = bound[name] is PSObject p ? p.BaseObject : bound[name];
                if (value is string s && s.Length > 0) return s;
            }
            return null;
        }

        public static ImageReference? Reference(IDictionary? bound, params string[] names)
        {
            foreach (var name in names)
            {
                if (bound == null || !bound.Contains(name)) continue;
                var value = bound[name] is PSObject p ? p.BaseObject : bound[name];
                switch (value)
                {
                    case ImageReference r: return r;
                    case RegistryTag t: return t.Reference;
                    case RegistryRepository repository: return repository.Reference;
                    case string s when ImageReference.TryParse(s, out var parsed): return parsed;
                }
            }
            return null;
        }
    }
}
