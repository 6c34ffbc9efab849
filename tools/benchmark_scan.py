"""Benchmark of the selective scan: medians and ratios against baselines.

Prints, in one run (forward + backward unless noted, medians of --repeats):

* ``issue``: (B=8, D=192, L=1024, N=16) fp32 on CPU. The package's chunked
  scan (backend ``'torch'``) against (a) a careful sequential autograd loop
  (the package's readable reference: unbound time steps, so its backward
  stays linear in L) and (b) the algorithm of mamba-ssm's
  ``selective_scan_ref`` (a Python loop over L with autograd that indexes the
  full ``(B, D, L, N)`` tensors step by step). (b) is timed at
  ``--ref-lengths`` and extrapolated to L twice: linearly from the longest
  (a lower bound: every step's indexing backward fills a full-size gradient,
  so its cost grows like L^2) and with a least-squares ``a*L + b*L^2`` fit.
  Pass ``--ref-lengths 1024`` to measure it directly (about 80 s).
* ``m3amba``: M3amba's SS2D scan (B=2, D=4*768 as 4 groups, L=1024, N=16):
  time; peak memory of one forward+backward in a fresh subprocess, as the
  growth of the kernel's peak-RSS mark (VmHWM, reset once the inputs exist)
  next to the op's input+output bytes; and the bytes the op saves for
  backward (``saved_tensors_hooks``).
* ``spectral``: SpectralMamba-like scans over short spectral piece sequences
  (B=256 pixels, D=64, L in --spectral-lengths, N=16).
* ``autocast``: the issue shape with bf16 and fp16 inputs under CPU autocast
  (state in fp32), against fp32.
* ``bound`` (CPU): the machine bound of the op, measured in the same run,
  and every CPU backend against it. At each of ``--bound-threads``: memory
  bandwidth (a 128 MiB copy), FMA throughput (a float32 matmul) and exp
  throughput (``torch.exp`` and the C++ kernel's vectorised exp, the faster
  counts); per shape, the bytes the op must move (:func:`scan_traffic_bytes`)
  and the FMAs and exps it must do (:func:`scan_work`), the bound
  ``max(bytes / bandwidth, FMAs / FMA rate + exps / exp rate)``, and each
  backend's median time and its ratio to the bound; then each backend's
  speed-up from the first thread count to the others. Shapes: the issue
  shape and M3amba's (fwd+bwd), SpectralMamba's piece scan (8192 pixel
  sequences, D=32, L=7, N=4, gate z, channels-last as the block passes
  them) forward+backward and forward alone under no_grad.
* ``cuda`` (alone with ``--device cuda``): on a CUDA machine, the package's
  Triton kernels (backend ``'triton'``), its torch path and mamba-ssm's kernel
  (when it imports), float32 and bfloat16 activations, at the issue shape,
  the M3amba shape and a SpectralMamba-like shape (65536 sequences of 7
  steps): medians, the time ratios, and the achieved bandwidth, the bytes
  the op must read and write (:func:`scan_traffic_bytes`) per second, as a
  share of the GPU's peak DRAM bandwidth (from its memory clock and bus
  width, else a table by name, else 'unknown'). Without CUDA it prints that
  it is skipped.

Example::

    python tools/benchmark_scan.py                 # quick default run
    python tools/benchmark_scan.py --sections issue m3amba --repeats 5
    python tools/benchmark_scan.py --threads 1   # stable on a shared machine
    python tools/benchmark_scan.py --device cuda  # triton/torch/mamba-ssm
    python tools/benchmark_scan.py --sections bound --bound-threads 1 2

Wall-clock and process-CPU medians are both printed: on a machine shared with
other jobs, OpenMP threads wait for each other and wall time with several
threads says more about the load than about the code.
"""
import argparse
import json
import os
import os.path as osp
import statistics
import subprocess
import sys
import time

import torch

from m3plugins.ops import (
    cpu_kernel_available,
    mamba_ssm_available,
    selective_scan,
    selective_scan_reference,
)

SECTIONS = ('issue', 'm3amba', 'spectral', 'inference', 'autocast', 'bound',
            'cuda')


def make_inputs(batch, channels, length, state, groups, device='cpu',
                dtype=torch.float32, seed=0):
    """Scan inputs like an SS2D layer's.

    Softplus steps, grouped B/C, D and a step bias; all require grad.

    Args:
        batch: Batch size.
        channels: Channels D.
        length: Sequence length L.
        state: State size N.
        groups: Groups G of B and C.
        device: Where the tensors go.
        dtype: Dtype of the activations u, delta, B, C (the parameters stay
            fp32, as in SS2D).
        seed: Seed of the generator.

    Returns:
        list[torch.Tensor]: ``u`` (batch, D, L), ``delta`` (batch, D, L),
        ``A`` (D, N), ``B`` and ``C`` (batch, G, N, L), ``D`` (D,) and the
        step bias (D,).
    """
    gen = torch.Generator().manual_seed(seed)
    u = torch.randn(batch, channels, length, generator=gen)
    delta = torch.randn(batch, channels, length, generator=gen) * 0.5 - 2
    A = -torch.arange(1, state + 1, dtype=torch.float32).repeat(channels, 1)
    B = torch.randn(batch, groups, state, length, generator=gen)
    C = torch.randn(batch, groups, state, length, generator=gen)
    D = torch.ones(channels)
    bias = torch.randn(channels, generator=gen) * 0.1
    tensors = [u, delta, A, B, C, D, bias]
    out = []
    for i, t in enumerate(tensors):
        t = t.to(device)
        if i in (0, 1, 3, 4):  # activations; parameters stay fp32 as in SS2D
            t = t.to(dtype)
        out.append(t.requires_grad_())
    return out


def call(fn, inputs):
    """Call a scan on :func:`make_inputs` tensors (no gate, softplus steps).

    Args:
        fn: A function with :func:`m3plugins.ops.selective_scan`'s
            positional signature.
        inputs: ``[u, delta, A, B, C, D, delta_bias]``.

    Returns:
        torch.Tensor: The scan output, (batch, D, L).
    """
    u, delta, A, B, C, D, bias = inputs
    return fn(u, delta, A, B, C, D, None, bias, True)


def mamba_ref_algorithm(u, delta, A, B, C, D, z, delta_bias, delta_softplus):
    """The algorithm of mamba-ssm's ``selective_scan_ref`` (written here).

    Full ``(B, D, L, N)`` transition/drive tensors, then a Python loop that
    indexes step ``i`` of them, one einsum per step for the output.
    """
    u, delta = u.float(), delta.float()
    if delta_bias is not None:
        delta = delta + delta_bias[:, None]
    if delta_softplus:
        delta = torch.nn.functional.softplus(delta)
    channels = u.shape[1]
    B = B.repeat_interleave(channels // B.shape[1], dim=1)
    C = C.repeat_interleave(channels // C.shape[1], dim=1)
    decay = torch.exp(torch.einsum('bdl,dn->bdln', delta, A))
    drive = torch.einsum('bdl,bdnl,bdl->bdln', delta, B, u)
    x = u.new_zeros(u.shape[0], channels, A.shape[1])
    ys = []
    for i in range(u.shape[2]):
        x = decay[:, :, i] * x + drive[:, :, i]
        ys.append(torch.einsum('bdn,bdn->bd', x, C[:, :, :, i]))
    y = torch.stack(ys, dim=2)
    out = y if D is None else y + u * D[:, None]
    return out


def sync(device):
    """Wait for the CUDA device's queued work (nothing to wait for on CPU).

    Args:
        device: ``'cpu'`` or ``'cuda'``.
    """
    if device == 'cuda':
        torch.cuda.synchronize()


class Timing(float):
    """Median wall-clock seconds (the float value) and process CPU seconds.

    Args:
        wall: Median wall-clock seconds, the float value.
        cpu: Median process CPU seconds, the ``cpu`` attribute.
    """

    def __new__(cls, wall, cpu):
        """Make the float ``wall`` that carries ``cpu`` along."""
        obj = super().__new__(cls, wall)
        obj.cpu = cpu
        return obj


def time_fwd_bwd(fn, inputs, repeats, device='cpu', autocast_dtype=None):
    """Median seconds of forward+backward (one untimed warm-up).

    Returns a :class:`Timing`: wall clock, plus the process CPU time, which is
    the better figure on a machine shared with other jobs when running with
    one thread (with several, it also counts OpenMP threads spinning).
    """
    times, cpu_times = [], []
    for i in range(repeats + 1):
        for t in inputs:
            t.grad = None
        sync(device)
        start, cpu_start = time.perf_counter(), time.process_time()
        if autocast_dtype is not None:
            with torch.autocast(device, dtype=autocast_dtype):
                y = call(fn, inputs)
        else:
            y = call(fn, inputs)
        y.float().sum().backward()
        sync(device)
        if i:
            times.append(time.perf_counter() - start)
            cpu_times.append(time.process_time() - cpu_start)
    return Timing(statistics.median(times), statistics.median(cpu_times))


def ours(device='cpu'):
    """The package's scan with the chunked torch backend.

    Args:
        device: Unused; the backend is the same on every device.

    Returns:
        Callable: ``selective_scan`` with ``backend='torch'``.
    """
    return lambda *a: selective_scan(*a, backend='torch')


def line(name, seconds, note=''):
    """Print one result line: name, wall seconds, CPU seconds, note.

    Args:
        name: What was timed.
        seconds: Seconds, a :class:`Timing` to show the CPU time too.
        note: Text at the end of the line.
    """
    cpu = getattr(seconds, 'cpu', None)
    cpu = f'(cpu {cpu:8.3f} s)' if cpu is not None else ' ' * 17
    print(f'  {name:<56s} {seconds:9.3f} s {cpu}  {note}', flush=True)


def ratio(slow, fast):
    """``'A.Ax'`` wall-clock ratio with the CPU-time ratio in brackets."""
    text = f'{slow / fast:.1f}x'
    if getattr(slow, 'cpu', None) and getattr(fast, 'cpu', None):
        text += f' (cpu {slow.cpu / fast.cpu:.1f}x)'
    return text


def _extrapolate(measured, length, clock):
    """Least-squares ``t = a*L + b*L^2`` through the measured points.

    Evaluated at ``length``.

    The selective_scan_ref algorithm does O(L) work per step forward and, in
    backward, each step's indexing fills a full ``(B, D, L, N)`` gradient:
    O(L^2) in all.
    """
    Ls = torch.tensor(sorted(measured), dtype=torch.float64)
    ts = torch.tensor([measured[int(v)] if clock == 'wall'
                       else measured[int(v)].cpu for v in Ls.tolist()],
                      dtype=torch.float64)
    design = torch.stack([Ls, Ls**2], dim=1)
    coef = torch.linalg.lstsq(design, ts[:, None]).solution.flatten()
    coef = coef.clamp(min=0)
    return float(coef[0] * length + coef[1] * length**2)


def section_issue(args):
    """Time the issue shape: ours vs the careful loop vs the ref algorithm.

    Args:
        args: The parsed command line (``repeats``, ``ref_lengths``).

    Returns:
        dict: ``[wall, cpu]`` seconds of ``ours``, ``careful_loop`` and
        ``ref_algorithm_extrapolated`` (measured if L was timed).
    """
    b, d, seq_len, n = 8, 192, 1024, 16
    print(f'[issue] fwd+bwd fp32 CPU, B={b} D={d} L={seq_len} N={n} '
          f'(B/C 1 group), {torch.get_num_threads()} threads')
    inputs = make_inputs(b, d, seq_len, n, 1)
    t_ours = time_fwd_bwd(ours(), inputs, args.repeats)
    t_loop = time_fwd_bwd(selective_scan_reference, inputs, args.repeats)
    line('m3plugins chunked scan (backend=torch)', t_ours)
    line('careful sequential autograd loop (reference impl)', t_loop,
         f'ours is {ratio(t_loop, t_ours)} faster')
    measured = {}
    for length in sorted(set(args.ref_lengths)):
        measured[length] = time_fwd_bwd(
            mamba_ref_algorithm, make_inputs(b, d, length, n, 1), 1)
        line(f'selective_scan_ref algorithm, measured at L={length}',
             measured[length],
             f'ours is {ratio(measured[length], t_ours)} faster'
             if length == seq_len else '')
    if seq_len not in measured:
        longest = max(measured)
        linear = Timing(measured[longest] * seq_len / longest,
                        measured[longest].cpu * seq_len / longest)
        line(f'  ... linear extrapolation to L={seq_len} (a lower bound)',
             linear, f'ours is >= {ratio(linear, t_ours)} faster')
        if len(measured) >= 2:
            fit = Timing(_extrapolate(measured, seq_len, 'wall'),
                         _extrapolate(measured, seq_len, 'cpu'))
            line(f'  ... a*L + b*L^2 fit, extrapolated to L={seq_len}', fit,
                 f'ours is {ratio(fit, t_ours)} faster')
    t_ref = measured.get(seq_len) or linear
    return dict(ours=[t_ours, t_ours.cpu], careful_loop=[t_loop, t_loop.cpu],
                ref_algorithm_extrapolated=[t_ref, t_ref.cpu])


def _proc_status_kib(field):
    """A ``Vm*`` field of /proc/self/status in KiB (Linux)."""
    with open('/proc/self/status') as f:
        for row in f:
            if row.startswith(field + ':'):
                return int(row.split()[1])
    raise KeyError(field)


def memory_child(spec):
    """Print one JSON line of byte counts (runs in a fresh subprocess).

    Peak memory: after the inputs exist, the kernel's peak-RSS mark (VmHWM)
    is reset by writing 5 to /proc/self/clear_refs, so the growth measured is
    that of this one forward+backward alone.

    Args:
        spec: The shape ``(batch, D, L, N, groups)``.
    """
    b, d, seq_len, n, g = spec
    # Warm up threads/allocator with a tiny call so one-time costs are not
    # counted.
    call(ours(), make_inputs(1, g, 2, n, g)).sum().backward()
    inputs = make_inputs(b, d, seq_len, n, g)
    io_bytes = (sum(t.numel() * t.element_size() for t in inputs)
                + b * d * seq_len * 4)
    with open('/proc/self/clear_refs', 'w') as f:
        f.write('5')
    start_kib = _proc_status_kib('VmRSS')
    saved = []

    def pack(t):
        saved.append(t.numel() * t.element_size())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        y = call(ours(), inputs)
    y.sum().backward()
    peak_kib = _proc_status_kib('VmHWM')
    print(json.dumps(dict(io_bytes=io_bytes,
                          rss_growth=(peak_kib - start_kib) * 1024,
                          saved_bytes=sum(saved),
                          history_bytes=b * d * seq_len * n * 4)))


def section_m3amba(args):
    """Time M3amba's SS2D scan shape and measure its memory.

    Args:
        args: The parsed command line (``repeats``).

    Returns:
        dict: ``ours`` (a :class:`Timing`) and, unless the memory
        subprocess failed, its byte counts (see :func:`memory_child`).
    """
    b, d, seq_len, n, g = 2, 4 * 768, 1024, 16, 4
    print(f'[m3amba] SS2D scan fwd+bwd fp32 CPU, B={b} D={d} ({g} groups) '
          f'L={seq_len} N={n}')
    inputs = make_inputs(b, d, seq_len, n, g)
    t_ours = time_fwd_bwd(ours(), inputs, args.repeats)
    line('m3plugins chunked scan (backend=torch)', t_ours)
    del inputs
    cmd = [sys.executable, osp.abspath(__file__), '--memory-child',
           f'{b},{d},{seq_len},{n},{g}', '--threads',
           str(torch.get_num_threads())]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        print('  memory subprocess failed:', proc.stderr[-2000:])
        return dict(ours=t_ours)
    mem = json.loads(proc.stdout.strip().splitlines()[-1])
    mib = 2.0**20
    io = mem['io_bytes']
    print(f'  op inputs+output: {io / mib:.1f} MiB; the (B,D,L,N) fp32 state '
          f'history (never built here) would be '
          f'{mem["history_bytes"] / mib:.1f} MiB')
    print(f'  peak RSS growth during one fwd+bwd once the inputs exist (VmHWM '
          f'reset, fresh process): {mem["rss_growth"] / mib:.1f} MiB = '
          f'{mem["rss_growth"] / io:.2f}x inputs+output (includes the input '
          'gradients it returns)')
    print(f'  bytes saved for backward (saved_tensors_hooks): '
          f'{mem["saved_bytes"] / mib:.1f} MiB '
          f'= {mem["saved_bytes"] / io:.2f}x inputs+output')
    return dict(ours=t_ours, **mem)


def section_spectral(args):
    """Time SpectralMamba-like short spectral sequences, three ways.

    Args:
        args: The parsed command line (``repeats``, ``spectral_lengths``).

    Returns:
        dict: Per length L, the :class:`Timing` of ``ours``,
        ``careful_loop`` and ``ref_algorithm``.
    """
    b, d, n = 256, 64, 16
    print(f'[spectral] SpectralMamba-like fwd+bwd fp32 CPU, B={b} pixels '
          f'D={d} N={n}')
    result = {}
    for seq_len in args.spectral_lengths:
        inputs = make_inputs(b, d, seq_len, n, 1)
        t_ours = time_fwd_bwd(ours(), inputs, args.repeats)
        t_loop = time_fwd_bwd(selective_scan_reference, inputs, args.repeats)
        t_ref = time_fwd_bwd(mamba_ref_algorithm, inputs, args.repeats)
        line(f'L={seq_len}: m3plugins chunked scan', t_ours)
        line(f'L={seq_len}: careful sequential autograd loop', t_loop,
             f'ours is {ratio(t_loop, t_ours)} faster')
        line(f'L={seq_len}: selective_scan_ref algorithm', t_ref,
             f'ours is {ratio(t_ref, t_ours)} faster')
        result[seq_len] = dict(ours=t_ours, careful_loop=t_loop,
                               ref_algorithm=t_ref)
    return result


def time_no_grad(fn, repeats):
    """Median (wall, CPU) seconds of ``fn()`` under ``torch.no_grad()``."""
    times, cpu_times = [], []
    with torch.no_grad():
        for i in range(repeats + 1):
            start, cpu_start = time.perf_counter(), time.process_time()
            fn()
            if i:
                times.append(time.perf_counter() - start)
                cpu_times.append(time.process_time() - cpu_start)
    return Timing(statistics.median(times), statistics.median(cpu_times))


def section_inference(args):
    """Time SpectralMamba's whole-scene shape, forward only.

    Compares the forward-only path with the autograd function's forward (the
    path used before it existed). Inputs are laid out as SpectralS6Block's
    inference path passes them: ``(P, D, L)`` views of channels-last
    ``(P, L, D)`` projections.

    Args:
        args: The parsed command line (``repeats``).

    Returns:
        dict: The :class:`Timing` of ``autograd_forward`` and ``no_grad``.
    """
    import importlib
    chunked = importlib.import_module('m3plugins.ops.selective_scan_chunked')
    p, d, seq_len, n = 8192, 32, 7, 4
    print(f'[inference] no-grad forward fp32 CPU, P={p} pixels D={d} '
          f'L={seq_len} N={n} (SpectralMamba pixel chunk)')
    gen = torch.Generator().manual_seed(0)
    xz = torch.randn(p, seq_len, 2 * d, generator=gen)
    u, z = xz.transpose(1, 2).chunk(2, dim=1)
    delta = torch.randn(p, seq_len, d, generator=gen).transpose(1, 2)
    params = torch.randn(p, seq_len, 2 * n, generator=gen)
    B, C = params[..., :n].transpose(1, 2), params[..., n:].transpose(1, 2)
    A = -torch.rand(d, n, generator=gen) - 0.5
    D, bias = torch.randn(d, generator=gen), torch.randn(d, generator=gen)
    args_ = (u, delta, A, B, C, D, z, bias, True)
    t_old = time_no_grad(
        lambda: chunked._ChunkedSelectiveScan.apply(*args_, None, None),
        args.repeats)
    t_new = time_no_grad(lambda: selective_scan(*args_, backend='torch'),
                         args.repeats)
    line('autograd-function forward (before)', t_old)
    line('forward-only path (selective_scan under no_grad)', t_new,
         f'{ratio(t_old, t_new)} faster')
    return dict(autograd_forward=t_old, no_grad=t_new)


def section_autocast(args):
    """Time the issue shape with bf16 and fp16 activations under autocast.

    Args:
        args: The parsed command line (``repeats``).

    Returns:
        dict: The :class:`Timing` of ``fp32`` and of each half dtype.
    """
    b, d, seq_len, n = 8, 192, 1024, 16
    print(f'[autocast] fwd+bwd CPU, B={b} D={d} L={seq_len} N={n}: '
          'half-precision activations under autocast, fp32 state')
    t32 = time_fwd_bwd(ours(), make_inputs(b, d, seq_len, n, 1), args.repeats)
    line('fp32', t32)
    result = dict(fp32=t32)
    for dtype in (torch.bfloat16, torch.float16):
        inputs = make_inputs(b, d, seq_len, n, 1, dtype=dtype)
        t = time_fwd_bwd(ours(), inputs, args.repeats, autocast_dtype=dtype)
        line(f'{dtype} under torch.autocast("cpu")', t,
             f'{ratio(t, t32)} the fp32 time')
        result[str(dtype)] = t
    return result


def _best_seconds(fn, repeats):
    """Fastest of ``repeats`` timed calls after one warm-up (machine rates).

    A rate is what the machine can do, so the best run counts, not the
    median.
    """
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def machine_rates(repeats=5):
    """Memory bandwidth, FMA and exp throughput at the current thread count.

    Args:
        repeats: Timed runs per figure (the best counts).

    Returns:
        dict: ``bandwidth`` (bytes/s read plus written by a 128 MiB float32
        copy), ``fma`` (FMAs/s of a 1024^3 float32 matmul), ``exp_torch``
        (float32 exps/s of ``torch.exp`` on a 256 KiB buffer),
        ``exp_kernel`` (the same for the C++ kernel's vectorised exp, None
        without the kernel) and ``exp`` (the faster of the two).
    """
    src = torch.rand(1 << 25)
    dst = torch.empty_like(src)
    bandwidth = 2 * src.numel() * 4 / _best_seconds(
        lambda: dst.copy_(src), repeats)
    a, b = torch.rand(1024, 1024), torch.rand(1024, 1024)
    fma = 1024**3 / _best_seconds(lambda: torch.mm(a, b), repeats)
    x = -10 * torch.rand(1 << 16)
    out = torch.empty_like(x)

    def torch_exps():
        for _ in range(50):
            torch.exp(x, out=out)

    exp_torch = 50 * x.numel() / _best_seconds(torch_exps, repeats)
    exp_kernel = None
    if cpu_kernel_available():
        from m3plugins.ops.selective_scan_cpu_kernel import load_cpu_kernel
        kernel = load_cpu_kernel()[0]
        threads = torch.get_num_threads()
        small = x[:1 << 12].clone()   # 16 KiB: L1-resident, per thread
        work = torch.empty(threads, small.numel())
        reps = 2000 * threads
        exp_kernel = reps * small.numel() / _best_seconds(
            lambda: kernel.exp_probe(small.data_ptr(), work.data_ptr(),
                                     small.numel(), reps), repeats)
    return dict(bandwidth=bandwidth, fma=fma, exp_torch=exp_torch,
                exp_kernel=exp_kernel,
                exp=max(exp_torch, exp_kernel or 0.0))


def scan_work(batch, channels, length, state, *, backward=True, gate=False,
              softplus=True):
    """FMAs and exps a selective scan must do (no state history kept).

    Per element of the ``(B, D, L, N)`` recurrence, forward: ``dt * A``, the
    state update (a product and an FMA) and ``C . h`` (4 FMAs) and one exp;
    backward: the recomputed forward (3 FMAs, one exp) and the reverse
    recurrence (``dL/dh``, the sums into dB, dC, d(dt*u), dA and d(dt): 9
    FMAs). Per ``(B, D, L)`` step: ``dt * u`` and the skip (2 FMAs), softplus
    (an exp and a log, counted as 2 exps) and the gate (an exp and 2 FMAs)
    in the forward; in the backward these again and their derivatives (a
    sigmoid: one exp, and 6 FMAs). An implementation that stores the
    ``(B, D, L, N)`` history instead trades the backward's exp and 3 FMAs
    per element for 8 bytes of traffic per element.

    Args:
        batch: Batch B.
        channels: Channels D.
        length: Sequence length L.
        state: State size N.
        backward: Count the backward too.
        gate: The gate ``z`` is used.
        softplus: ``delta`` goes through softplus.

    Returns:
        tuple: ``(fmas, exps)``.
    """
    elements = batch * channels * length * state
    steps = batch * channels * length
    step_fmas = 2 + (2 if gate else 0)
    step_exps = (2 if softplus else 0) + (1 if gate else 0)
    fmas, exps = 4 * elements + step_fmas * steps, elements + step_exps * steps
    if backward:
        fmas += 12 * elements + (step_fmas + 6) * steps
        exps += elements + step_exps * steps + (1 if softplus else 0) * steps
    return fmas, exps


def bound_seconds(traffic, fmas, exps, rates):
    """The machine bound: ``max(memory time, FMA time + exp time)``.

    Args:
        traffic: Bytes the op must move.
        fmas: FMAs it must do.
        exps: Exps it must take.
        rates: :func:`machine_rates` of the thread count.

    Returns:
        dict: ``bound``, ``memory`` and ``compute`` seconds.
    """
    memory = traffic / rates['bandwidth']
    compute = fmas / rates['fma'] + exps / rates['exp']
    return dict(bound=max(memory, compute), memory=memory, compute=compute)


def piece_inputs(pixels, channels, length, state, requires_grad, seed=0):
    """SpectralMamba's piece-scan inputs in the layout its S6 block passes.

    The block's projections are channels-last, so ``u``, ``delta``, ``z``
    (``(P, D, L)``) and ``B``, ``C`` (``(P, N, L)``) have the strides of
    ``(P, L, D)`` and ``(P, L, N)`` storage. They are made as leaf tensors
    with those strides, so that the gradients the op returns land in
    ``.grad`` without the copies autograd would add to split one projection
    into views (glue around the op, not the op).

    Args:
        pixels: Pixel sequences P.
        channels: Channels D.
        length: Pieces per sequence L.
        state: State size N.
        requires_grad: The inputs require grad.
        seed: Seed of the generator.

    Returns:
        list[torch.Tensor]: ``u, delta, A, B, C, D, z, bias``.
    """
    gen = torch.Generator().manual_seed(seed)

    def channels_last(width, scale=1.0, shift=0.0):
        storage = torch.randn(pixels, length, width, generator=gen)
        return (storage * scale + shift).transpose(1, 2)

    u, z = channels_last(channels), channels_last(channels)
    delta = channels_last(channels, 0.5, -2.0)
    B, C = channels_last(state), channels_last(state)
    A = -torch.rand(channels, state, generator=gen) - 0.5
    D = torch.randn(channels, generator=gen)
    bias = torch.randn(channels, generator=gen) * 0.1
    args = [u, delta, A, B, C, D, z, bias]
    for t in args:
        t.requires_grad_(requires_grad)
    return args


#: Shapes of the bound section: name, (batch, D, L, N, groups), whether the
#: gate is used and the channels-last piece layout, and the passes timed.
BOUND_SHAPES = (
    ('issue', (8, 192, 1024, 16, 1), False, 'fwd+bwd'),
    ('m3amba', (2, 4 * 768, 1024, 16, 4), False, 'fwd+bwd'),
    ('pieces', (8192, 32, 7, 4, 1), True, 'fwd+bwd'),
    ('pieces', (8192, 32, 7, 4, 1), True, 'fwd'),
)


def _bound_case(shape, pieces, passes, backend, repeats):
    """Median :class:`Timing` of one backend on one bound-section shape.

    The backward starts from a dense output gradient laid out like the
    output (what the next layer gives), not the stride-0 one of
    ``y.sum()``.
    """
    b, d, seq_len, n, g = shape
    backward = passes == 'fwd+bwd'
    if pieces:
        args = piece_inputs(b, d, seq_len, n, backward)
        grad = torch.randn(b, seq_len, d).transpose(1, 2)
    else:
        u, delta, A, B, C, D, bias = make_inputs(b, d, seq_len, n, g)
        args = [u, delta, A, B, C, D, None, bias]
        args = [t.requires_grad_(backward) if t is not None else None
                for t in args]
        grad = torch.randn(b, d, seq_len)
    leaves = [t for t in args if t is not None]
    times, cpu_times = [], []
    for i in range(repeats + 1):
        for t in leaves:
            t.grad = None
        start, cpu_start = time.perf_counter(), time.process_time()
        if backward:
            y = selective_scan(*args, True, backend=backend)
            y.backward(grad)
        else:
            with torch.no_grad():
                selective_scan(*args, True, backend=backend)
        if i:
            times.append(time.perf_counter() - start)
            cpu_times.append(time.process_time() - cpu_start)
    return Timing(statistics.median(times), statistics.median(cpu_times))


def _traffic_of(shape, gate, passes):
    """Bytes a bound-section case must move (float32)."""
    b, d, seq_len, n, g = shape
    act = 4 * (2 * b * d * seq_len + 2 * b * g * n * seq_len)
    gate_bytes = 4 * b * d * seq_len if gate else 0
    out = 4 * b * d * seq_len
    if passes == 'fwd':
        return act + gate_bytes + out
    return 3 * (act + gate_bytes) + 2 * out + (out if gate else 0)


def section_bound(args):
    """Time every CPU backend against the machine bound measured here.

    Args:
        args: The parsed command line (``repeats``, ``bound_threads``).

    Returns:
        dict: Per thread count, the machine rates and, per case, the
        bound and each backend's seconds.
    """
    backends = (['cpu_kernel'] if cpu_kernel_available() else []) + ['torch']
    if 'cpu_kernel' not in backends:
        from m3plugins.ops.selective_scan_cpu_kernel import load_cpu_kernel
        print(f'[bound] the C++ CPU kernel is unavailable here '
              f'({load_cpu_kernel()[1][:200]}); torch path only')
    threads_before = torch.get_num_threads()
    result = {}
    for threads in args.bound_threads:
        torch.set_num_threads(threads)
        rates = machine_rates()
        kernel_exp = (f'{rates["exp_kernel"] / 1e9:.2f}'
                      if rates['exp_kernel'] else 'n/a')
        print(f'[bound] {threads} thread(s): copy '
              f'{rates["bandwidth"] / 1e9:.1f} GB/s, FMA '
              f'{rates["fma"] / 1e9:.1f} G/s (float32 matmul), '
              f'exp {rates["exp"] / 1e9:.2f} G/s (kernel {kernel_exp}, '
              f'torch.exp {rates["exp_torch"] / 1e9:.2f})', flush=True)
        cases = {}
        for name, shape, pieces, passes in BOUND_SHAPES:
            b, d, seq_len, n, g = shape
            traffic = _traffic_of(shape, pieces, passes)
            fmas, exps = scan_work(b, d, seq_len, n,
                                   backward=passes == 'fwd+bwd', gate=pieces)
            bound = bound_seconds(traffic, fmas, exps, rates)
            key = f'{name} {passes}'
            print(f'  {key} {shape[:4]}: {traffic / 2**20:.1f} MiB, '
                  f'{fmas / 1e9:.3f} G FMA, {exps / 1e6:.1f} M exp -> bound '
                  f'{bound["bound"] * 1e3:.2f} ms (memory '
                  f'{bound["memory"] * 1e3:.2f}, compute '
                  f'{bound["compute"] * 1e3:.2f})', flush=True)
            times = {}
            for backend in backends:
                times[backend] = _bound_case(shape, pieces, passes, backend,
                                             args.repeats)
                t = times[backend]
                note = f'{t / bound["bound"]:5.2f}x the bound'
                if backend != 'cpu_kernel' and 'cpu_kernel' in times:
                    note += (f'; cpu_kernel is '
                             f'{ratio(t, times["cpu_kernel"])} faster')
                print(f'  {key}: {backend:<10s} {t * 1e3:8.1f} ms (cpu '
                      f'{t.cpu * 1e3:8.1f} ms)  {note}', flush=True)
            cases[key] = dict(bound=bound, traffic=traffic, fmas=fmas,
                              exps=exps, **{k: [float(v), v.cpu]
                                            for k, v in times.items()})
        result[threads] = dict(rates=rates, cases=cases)
    torch.set_num_threads(threads_before)
    first, *others = args.bound_threads
    for threads in others:
        print(f'[bound] speed-up, {threads} vs {first} thread(s) (wall)')
        for key, case in result[threads]['cases'].items():
            for backend in backends:
                speedup = result[first]['cases'][key][backend][0] / \
                    case[backend][0]
                print(f'  {key}: {backend} {speedup:.2f}x')
    return result


#: Peak DRAM bandwidth (bytes/s) by device name, for GPUs whose properties
#: do not report a memory clock and bus width.
PEAK_BANDWIDTH_BY_NAME = (
    ('H200', 4.8e12), ('H100 PCIe', 2.0e12), ('H100', 3.35e12),
    ('A100-SXM4-80GB', 2.039e12), ('A100 80GB PCIe', 1.935e12),
    ('A100', 1.555e12),
    ('L40S', 0.864e12), ('L4', 0.3e12), ('A10', 0.6e12), ('V100', 0.9e12),
    ('RTX 4090', 1.008e12), ('RTX 3090', 0.936e12),
)

#: Shapes of the CUDA section: name -> (batch, D, L, N, groups).
CUDA_SHAPES = (
    ('issue', (8, 192, 1024, 16, 1)),
    ('m3amba', (2, 4 * 768, 1024, 16, 4)),
    # SpectralMamba-like: many short sequences.
    ('pieces', (65536, 32, 7, 4, 1)),
)


def peak_bandwidth(device=None):
    """``(bytes per second or None, where the figure comes from)`` of a GPU.

    From the device properties' memory clock and bus width (double data
    rate) when torch reports them, else from :data:`PEAK_BANDWIDTH_BY_NAME`.
    """
    props = torch.cuda.get_device_properties(device)
    clock_khz = getattr(props, 'memory_clock_rate', 0) or 0
    bus_bits = getattr(props, 'memory_bus_width', 0) or 0
    if clock_khz and bus_bits:
        return 2 * clock_khz * 1e3 * bus_bits / 8, 'memory clock x bus width'
    for key, value in PEAK_BANDWIDTH_BY_NAME:
        if key.lower() in props.name.lower():
            return value, f'table entry {key!r}'
    return None, 'unknown'


def scan_traffic_bytes(inputs):
    """Bytes a forward+backward must move at least.

    The forward reads u, delta, B, C and writes the output; the backward
    reads them and the output gradient and writes their gradients
    (parameters are negligible).

    Args:
        inputs: :func:`make_inputs` tensors ``[u, delta, A, B, C, ...]``.

    Returns:
        int: Three times the activation bytes plus twice the output bytes.
    """
    u, delta, _, B, C = inputs[:5]
    activations = sum(t.numel() * t.element_size() for t in (u, delta, B, C))
    output = u.numel() * u.element_size()
    return 3 * activations + 2 * output


def section_cuda(args):
    """Time the scan backends on the GPU.

    The Triton kernels, the torch path and mamba-ssm (when it imports), fp32
    and bf16 activations: forward+backward medians, ratios and achieved
    bandwidth.

    Args:
        args: The parsed command line (``repeats``, at least 10 used).

    Returns:
        dict | None: Per shape and dtype, the shape, the traffic bytes and
        the seconds of each backend; None without a CUDA device.
    """
    if not torch.cuda.is_available():
        print('[cuda] skipped: no CUDA device')
        return None
    from m3plugins.ops.selective_scan import triton_available
    peak, source = peak_bandwidth()
    peak_text = f'{peak / 1e12:.2f} TB/s ({source})' if peak else 'unknown'
    print(f'[cuda] fwd+bwd on {torch.cuda.get_device_name()}, peak DRAM '
          f'bandwidth {peak_text}; mamba-ssm kernel '
          f'{"available" if mamba_ssm_available() else "NOT importable"}, '
          f'triton {"available" if triton_available() else "NOT importable"}')
    backends = [b for b, ok in (('triton', triton_available()),
                                ('torch', True),
                                ('mamba_ssm', mamba_ssm_available())) if ok]
    repeats = max(args.repeats, 10)
    result = {}
    for name, shape in CUDA_SHAPES:
        for dtype in (torch.float32, torch.bfloat16):
            inputs = make_inputs(*shape, device='cuda', dtype=dtype)
            traffic = scan_traffic_bytes(inputs)
            times = {}
            for backend in backends:
                fn = lambda *a, _b=backend: selective_scan(  # noqa: E731
                    *a, backend=_b)
                try:
                    times[backend] = time_fwd_bwd(fn, inputs, repeats, 'cuda')
                except Exception as err:  # report and go on with the others
                    print(f'  {name} {dtype}: {backend} failed: '
                          f'{type(err).__name__}: {err}')
                    continue
                rate = traffic / times[backend]
                share = (f'{100 * rate / peak:5.1f}% of peak' if peak
                         else '(peak unknown)')
                note = f'{rate / 1e9:8.1f} GB/s {share}'
                if backend != 'triton' and 'triton' in times:
                    note += (f'; triton takes '
                             f'{times["triton"] / times[backend]:.2f}x its '
                             'time')
                line(f'{name} {shape} {str(dtype)[6:]}: {backend}',
                     times[backend], note)
            result[f'{name}-{str(dtype)[6:]}'] = dict(
                shape=shape, traffic_bytes=traffic,
                **{k: float(v) for k, v in times.items()})
            del inputs
            torch.cuda.empty_cache()
    return result


def parse_args(argv=None):
    """Parse the command line of the scan benchmark.

    Args:
        argv: The arguments (None: ``sys.argv[1:]``).

    Returns:
        argparse.Namespace: The sections, device, repeats, lengths, threads,
        JSON path and (in the memory subprocess) ``memory_child``.
    """
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--sections', nargs='+', choices=SECTIONS,
                        default=list(SECTIONS))
    parser.add_argument('--device', choices=('cpu', 'cuda'), default=None,
                        help="'cuda': only the CUDA section (exits 0 with a "
                        "message when there is no CUDA device); 'cpu': every "
                        'other section')
    parser.add_argument('--repeats', type=int, default=3,
                        help='timed runs per median')
    parser.add_argument('--ref-lengths', type=int, nargs='+',
                        default=[128, 256],
                        help='L values at which the selective_scan_ref '
                        'algorithm is timed (include 1024 to measure the '
                        'issue shape directly: about 80 s)')
    parser.add_argument('--spectral-lengths', type=int, nargs='+',
                        default=[6, 24])
    parser.add_argument('--threads', type=int, default=None,
                        help='torch intra-op threads (default: torch default)')
    parser.add_argument('--bound-threads', type=int, nargs='+',
                        default=None,
                        help='thread counts of the bound section (default: '
                        '1, and 2 when the machine has 2 CPUs or more)')
    parser.add_argument('--json', type=str, default=None,
                        help='also write results here')
    parser.add_argument('--memory-child', type=str, default=None,
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.bound_threads is None:
        args.bound_threads = [1, 2] if (os.cpu_count() or 1) >= 2 else [1]
    return args


def main(argv=None):
    """Run the chosen sections (or the memory subprocess) and print results.

    Args:
        argv: The arguments (None: ``sys.argv[1:]``).
    """
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.memory_child:
        memory_child(tuple(int(v) for v in args.memory_child.split(',')))
        return
    if args.device == 'cuda':
        args.sections = ['cuda']
    elif args.device == 'cpu':
        args.sections = [name for name in args.sections if name != 'cuda']
    load = ', '.join(f'{v:.1f}' for v in os.getloadavg())
    print(f'torch {torch.__version__}, {torch.get_num_threads()} intra-op '
          f'threads, {os.cpu_count()} CPUs, load average {load}; wall-clock '
          f'medians of {args.repeats} runs after one warm-up')
    results = {}
    for name in args.sections:
        results[name] = globals()[f'section_{name}'](args)
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(results, f, indent=1)


if __name__ == '__main__':
    main()
