package org.untwist.backend;

import java.lang.reflect.InvocationHandler;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import java.util.List;
import java.util.Set;
import org.untwist.tensor.DType;
import org.untwist.tensor.Tensor;

/**
 * A {@link Backend} that times every operation of the backend it wraps into an {@link OpProfile}: each call is
 * preceded and followed by the backend's {@link Backend#synchronize()}, so a device backend's asynchronous work is
 * charged to the operation that issued it. The synchronizations serialize what a device would overlap and add a
 * launch latency per call, so the profile's total exceeds an unprofiled run's time by a little; it says where the
 * time goes, not how fast the run is. With a {@link StreamClock} nothing is synchronized: each call is bracketed by
 * two marks in the device's stream and recorded when the wrapper's {@code synchronize} (or {@code close}) is called,
 * so the calls' times add up to the run's. The wrapper is a proxy: every operation, present and future, is timed.
 */
public final class ProfilingBackend implements InvocationHandler {
    /** Calls that do no work worth timing. */
    private static final Set<String> UNTIMED = Set.of("name", "describe", "threads", "synchronize", "close", "hashCode", "equals", "toString");

    private final Backend backend;
    private final OpProfile profile;
    private final Runnable afterClose;
    private final StreamClock clock;
    /** Calls bracketed by clock marks, not yet recorded: name, shapes, the marks before and after. */
    private final java.util.ArrayList<Object[]> pending = new java.util.ArrayList<>();

    private ProfilingBackend(Backend backend, OpProfile profile, Runnable afterClose, StreamClock clock) {
        this.backend = backend;
        this.profile = profile;
        this.afterClose = afterClose;
        this.clock = clock;
    }

    /**
     * {@code backend} with each operation timed into {@code profile}; closing the result closes {@code backend} and
     * then runs {@code afterClose} (for example, printing the profile), which may be null.
     */
    public static Backend wrap(Backend backend, OpProfile profile, Runnable afterClose) {
        return wrap(backend, profile, afterClose, null);
    }

    /**
     * As above, each operation timed on {@code clock} (the device's stream) instead of between two synchronizes; the
     * profile is complete after the result's {@code synchronize()}. The clock must stay open until the result's last
     * {@code synchronize()} or {@code close()}; calls from one thread at a time (a device backend's contract), since a
     * synchronize resets the clock's marks. {@code clock} null: the synchronizing profile.
     */
    public static Backend wrap(Backend backend, OpProfile profile, Runnable afterClose, StreamClock clock) {
        return (Backend) Proxy.newProxyInstance(Backend.class.getClassLoader(), new Class<?>[] {Backend.class},
                new ProfilingBackend(backend, profile, afterClose, clock));
    }

    @Override
    public Object invoke(Object proxy, Method method, Object[] args) throws Throwable {
        String name = method.getName();
        if (UNTIMED.contains(name)) {
            if (name.equals("close")) { // the backend is closed even where recording the clock's spans fails
                RuntimeException recording = null;
                try {
                    recordPending();
                } catch (RuntimeException e) {
                    recording = e;
                }
                try {
                    call(method, args);
                } finally {
                    if (afterClose != null) {
                        afterClose.run();
                    }
                }
                if (recording != null) {
                    throw recording;
                }
                return null;
            }
            if (name.equals("synchronize")) {
                Object result = call(method, args);
                recordPending();
                return result;
            }
            return name.equals("equals") ? (Boolean) (proxy == args[0]) : name.equals("hashCode") ? System.identityHashCode(proxy) : call(method, args);
        }
        if (clock != null) {
            int from = clock.mark();
            Object result = call(method, args);
            int to = clock.mark();
            synchronized (pending) {
                pending.add(new Object[] {name, signature(args), from, to});
            }
            return result;
        }
        backend.synchronize(); // what earlier calls left running is not charged to this one
        long t0 = System.nanoTime();
        Object result = call(method, args);
        backend.synchronize();
        profile.record(name, signature(args), System.nanoTime() - t0);
        return result;
    }

    /** The clock-timed calls issued so far into the profile, then the clock's marks forgotten. */
    private void recordPending() {
        if (clock == null) {
            return;
        }
        synchronized (pending) {
            try {
                for (Object[] p : pending) {
                    profile.record((String) p[0], (String) p[1], Math.round(clock.millisBetween((Integer) p[2], (Integer) p[3]) * 1e6));
                }
            } finally { // recorded once or not at all
                pending.clear();
                clock.reset();
            }
        }
    }

    private Object call(Method method, Object[] args) throws Throwable {
        try {
            return method.invoke(backend, args);
        } catch (InvocationTargetException e) {
            throw e.getCause();
        }
    }

    /** The shapes (and non-float32 types) of a call's tensor arguments, e.g. {@code 4608x3072 · 12288x3072:bf16 · 12288}. */
    static String signature(Object[] args) {
        if (args == null) {
            return "";
        }
        StringBuilder sb = new StringBuilder();
        for (Object a : args) {
            String s = a instanceof Tensor t ? shape(t) : a instanceof List<?> l && !l.isEmpty() && l.getFirst() instanceof Tensor t
                    ? l.size() + "×[" + shape(t) + (l.size() > 1 ? ", ..." : "") + "]" : null;
            if (s != null) {
                sb.append(sb.isEmpty() ? "" : " · ").append(s);
            }
        }
        return sb.toString();
    }

    private static String shape(Tensor t) {
        StringBuilder sb = new StringBuilder();
        for (int d : t.shape()) {
            sb.append(sb.isEmpty() ? "" : "x").append(d);
        }
        return t.dtype() == DType.F32 ? sb.toString() : sb + ":" + t.dtype().name().toLowerCase(java.util.Locale.ROOT);
    }
}
