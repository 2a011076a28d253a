using ConsulLock.Aop.Tool;

return await ConsulLockTool.RunAsync(args, Console.Out, Console.Error).ConfigureAwait(false);
