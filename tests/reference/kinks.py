"""The derivative PyTorch and JAX give at each kink of the table in
crates/autodiff/README.md ("Derivatives at kinks, beside PyTorch and JAX"),
in float64. Run with torch and jax installed (any venv):

    python tests/reference/kinks.py

Output of torch 2.15.0 and jax 0.10.2 (2026-12-02), which the table quotes:

relu at 0                torch 0.0      jax 0.0
leaky_relu(0.1) at 0     torch 0.1      jax 1.0
abs at 0                 torch 0.0      jax 1.0
clamp(-1,1) at 1         torch 0.0      jax 0.5
clamp(-1,1) at -1        torch 0.0      jax 0.5
clamp(0,0) at 0          torch 0.0      jax 0.25
sqrt at 0                torch inf      jax inf
maximum(x,1) at 1        torch 0.5      jax 0.5
minimum(x,1) at 1        torch 0.5      jax 0.5
x.pow(0) at 0            torch 0.0      jax nan
x.pow(2) at 0            torch 0.0      jax 0.0
x.pow(0.5) at 0          torch inf      jax inf
where(x>0,x,0) at 0      torch 0.0      jax 0.0
sign at 0                torch 0.0      jax 0.0
max tie torch [0.5, 0.5, 0.0]
amax tie torch [0.5, 0.5, 0.0]
max tie jax [0.5, 0.5, 0.0]
"""
import torch, jax, jax.numpy as jnp
jax.config.update("jax_enable_x64", True)
def tg(f, x):
    x = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    f(x).backward(); return x.grad.item()
def jg(f, x): return float(jax.grad(f)(jnp.float64(x)))
cases = {
 "relu at 0": (lambda x: torch.relu(x), lambda x: jax.nn.relu(x), 0.0),
 "leaky_relu(0.1) at 0": (lambda x: torch.nn.functional.leaky_relu(x,0.1), lambda x: jax.nn.leaky_relu(x,0.1), 0.0),
 "abs at 0": (torch.abs, jnp.abs, 0.0),
 "clamp(-1,1) at 1": (lambda x: torch.clamp(x,-1,1), lambda x: jnp.clip(x,-1,1), 1.0),
 "clamp(-1,1) at -1": (lambda x: torch.clamp(x,-1,1), lambda x: jnp.clip(x,-1,1), -1.0),
 "clamp(0,0) at 0": (lambda x: torch.clamp(x,0,0), lambda x: jnp.clip(x,0,0), 0.0),
 "sqrt at 0": (torch.sqrt, jnp.sqrt, 0.0),
 "maximum(x,1) at 1": (lambda x: torch.maximum(x, torch.tensor(1.0,dtype=torch.float64)), lambda x: jnp.maximum(x,1.0), 1.0),
 "minimum(x,1) at 1": (lambda x: torch.minimum(x, torch.tensor(1.0,dtype=torch.float64)), lambda x: jnp.minimum(x,1.0), 1.0),
 "x.pow(0) at 0": (lambda x: x**0.0, lambda x: x**0.0, 0.0),
 "x.pow(2) at 0": (lambda x: x**2.0, lambda x: x**2.0, 0.0),
 "x.pow(0.5) at 0": (lambda x: x**0.5, lambda x: x**0.5, 0.0),
 "where(x>0,x,0) at 0": (lambda x: torch.where(x>0,x,torch.zeros_like(x)), lambda x: jnp.where(x>0,x,0.0), 0.0),
 "sign at 0": (torch.sign, jnp.sign, 0.0),
}
for k,(t,j,x) in cases.items():
    print(f"{k:24s} torch {tg(t,x)!r:8} jax {jg(j,x)!r}")
# max over axis with ties
x = torch.tensor([1.0,1.0,0.0],dtype=torch.float64,requires_grad=True); x.max().backward(); print("max tie torch", x.grad.tolist())
x = torch.tensor([1.0,1.0,0.0],dtype=torch.float64,requires_grad=True); torch.amax(x,0).backward(); print("amax tie torch", x.grad.tolist())
print("max tie jax", jax.grad(lambda v: jnp.max(v))(jnp.array([1.0,1.0,0.0])).tolist())
